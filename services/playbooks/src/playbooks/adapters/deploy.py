"""An optional deployment endpoint the planner actions also call over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import ActionError


class DeploymentEndpoint:
    """POSTs a JSON change request to the URL from settings (`playbooks.planner.deployment_url`)."""

    def __init__(self, url: str, timeout_s: float):
        self.url = url
        self.timeout_s = timeout_s

    async def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                resp = await client.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            raise ActionError(f"deployment endpoint failed: {exc!r}") from exc
        if resp.status_code >= 400:
            raise ActionError(f"deployment endpoint answered {resp.status_code}: {resp.text[:300]}")
        return {"deployment_status": resp.status_code}
