"""The web console: static HTML, vanilla JS modules and CSS, no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

ROOT = Path(__file__).parent / "console"


def mount(app: FastAPI) -> None:
    """Serve the console at `/` and its assets under `/console/`."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    @router.get("/incidents/{incident_id:int}")
    async def index() -> FileResponse:
        """The single page; the console's router reads the path (links from pages work)."""
        return FileResponse(ROOT / "index.html", media_type="text/html")

    app.include_router(router)
    app.mount("/console", StaticFiles(directory=ROOT), name="console")
