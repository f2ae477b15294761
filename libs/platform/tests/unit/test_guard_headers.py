"""The guard middleware: every response gets the security headers it does not set itself,
once; a declared body over the limit is refused with 413 before the app runs."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Response
from interventions_platform.http import SECURITY_HEADERS, _with_security_headers, create_app


def test_missing_security_headers_are_added_and_the_apps_own_are_kept_once() -> None:
    own = [(b"content-type", b"text/html"), (b"X-Frame-Options", b"SAMEORIGIN")]
    got = _with_security_headers(own)
    assert got[:2] == own
    names = [k.lower() for k, _ in got]
    assert len(names) == len(set(names))
    assert set(names) >= {k.lower().encode() for k in SECURITY_HEADERS}
    assert dict(got)[b"X-Frame-Options"] == b"SAMEORIGIN"
    assert _with_security_headers(()) == [
        (k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
    ]


async def test_responses_carry_them_and_oversized_bodies_are_refused() -> None:
    app = create_app("probe", lifespan=None, max_body_bytes=10)
    ran: list[Any] = []

    @app.post("/echo")
    async def echo() -> Response:
        ran.append(1)
        return Response(b"ok", headers={"x-frame-options": "SAMEORIGIN"})

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        ok = await client.post("/echo", content=b"small")
        assert ok.status_code == 200
        assert ok.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
        for name, value in SECURITY_HEADERS.items():
            if name != "X-Frame-Options":
                assert ok.headers[name] == value
        big = await client.post("/echo", content=b"x" * 11)
        assert big.status_code == 413
        assert "over 10 bytes" in big.json()["detail"]
    assert ran == [1]
