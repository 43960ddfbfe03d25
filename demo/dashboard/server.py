"""``python -m demo serve``: the dashboard over the standard library's HTTP server.

Routes: ``/`` (the page), ``/api/summary`` (the same data as JSON), ``/healthz``.
Each request reads the catalog afresh, so the page is as current as the catalog.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from demo.dashboard import render
from demo.errors import DemoError
from demo.status import ProductStatus, to_json

Collector = Callable[[], list[ProductStatus]]


def make_server(host: str, port: int, collect: Collector) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "demo-dashboard"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(HTTPStatus.OK, "text/plain", b"ok\n")
                return
            if path not in ("/", "/api/summary"):
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")
                return
            try:
                statuses = collect()
            except DemoError as exc:
                body = render.error_page(str(exc)).encode()
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/html; charset=utf-8", body)
                return
            if path == "/":
                html = render.page(statuses).encode()
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", html)
            else:
                data = json.dumps(to_json(statuses), indent=1).encode()
                self._send(HTTPStatus.OK, "application/json", data)

        def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the dashboard's access log would drown the demo's own output."""

    return ThreadingHTTPServer((host, port), Handler)
