"""The S3 stand-in the durable chaos broker stores its log in: conditional puts (what keeps
two writers of one object apart), ranged reads and ListObjectsV2, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from interventions_testkit.standins import s3
from interventions_testkit.standins._http import base_url, close, serve


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    s3.STORE.objects.clear()
    server = serve(s3.Handler)
    try:
        with httpx.Client(base_url=base_url(server)) as c:
            yield c
    finally:
        close(server)


def test_create_only_once_and_update_only_with_the_current_etag(client: httpx.Client) -> None:
    first = client.put("/b/k", content=b"one", headers={"if-none-match": "*"})
    assert first.status_code == 200
    again = client.put("/b/k", content=b"two", headers={"if-none-match": "*"})
    assert again.status_code == 412
    etag = first.headers["etag"]
    assert client.put("/b/k", content=b"two", headers={"if-match": etag}).status_code == 200
    assert client.put("/b/k", content=b"three", headers={"if-match": etag}).status_code == 412
    got = client.get("/b/k")
    assert got.content == b"two"
    assert got.headers["last-modified"]


def test_ranged_get_head_delete(client: httpx.Client) -> None:
    client.put("/b/k", content=b"0123456789")
    part = client.get("/b/k", headers={"range": "bytes=2-4"})
    assert (part.status_code, part.content) == (206, b"234")
    assert part.headers["content-range"] == "bytes 2-4/10"
    assert client.head("/b/k").headers["content-length"] == "10"
    assert client.delete("/b/k").status_code == 204
    assert client.get("/b/k").status_code == 404


def test_list_by_prefix_and_delimiter_pages(client: httpx.Client) -> None:
    for k in ("t/p0/a", "t/p0/b", "t/p1/a", "u/x"):
        client.put(f"/b/{k}", content=b"x")
    listed = client.get("/b", params={"list-type": "2", "prefix": "t/", "delimiter": "/"}).text
    assert "<Prefix>t/p0/</Prefix>" in listed and "<Prefix>t/p1/</Prefix>" in listed
    assert "u/x" not in listed
    page = client.get("/b", params={"list-type": "2", "prefix": "t/p0/", "max-keys": "1"}).text
    assert "<Key>t/p0/a</Key>" in page and "<IsTruncated>true</IsTruncated>" in page
    token = page.split("<NextContinuationToken>")[1].split("<")[0]
    rest = client.get(
        "/b", params={"list-type": "2", "prefix": "t/p0/", "continuation-token": token}
    ).text
    assert "<Key>t/p0/b</Key>" in rest and "<Key>t/p0/a</Key>" not in rest
