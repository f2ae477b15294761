"""The threaded loopback HTTP server the stdlib-based stand-ins share."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Serve `handler` on a free 127.0.0.1 port from a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def close(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def base_url(server: ThreadingHTTPServer | None) -> str:
    assert server is not None, "start() the stand-in first"
    return f"http://127.0.0.1:{server.server_address[1]}"
