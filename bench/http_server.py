"""Python's own http.server as the outside world: a server that is not ours, as a user might try.

A ``ThreadingHTTPServer`` with its defaults (a thread per connection, a listen backlog of 5, Nagle's
algorithm on), each request answered after ``--latency-ms`` in its thread:

- ``GET /pages/gen/{n}``: the sandbox's generated benchmark page (``X-Expected-Count``);
- ``POST /gateway/v1/send/{id}`` and ``/gateway/_sandbox/deliveries``: the gateway contract of
  ``bench.plain_gateway`` (same checks and counts);
- ``GET /health``.

    python -m bench.http_server --port PORT [--latency-ms 100] [--token TOKEN]
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.plain_gateway import OK, Deliveries, server_args
from sandbox.webpages import generated_page

PAGE = re.compile(r"/pages/gen/(\d+)")
SEND = re.compile(r"/gateway/v1/send/(\d+)")
DELIVERIES = "/gateway/_sandbox/deliveries"


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, latency: float, token: str) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.latency = latency
        self.deliveries = Deliveries(token)
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_GET(self) -> None:
        if page := PAGE.fullmatch(self.path):
            time.sleep(self.server.latency)
            body, expected = generated_page(int(page.group(1)))
            self._answer(200, body, "text/html; charset=utf-8", {"X-Expected-Count": str(expected)})
        elif self.path == DELIVERIES:
            with self.server.lock:
                report = self.server.deliveries.report()
            self._answer(200, json.dumps(report).encode(), "application/json")
        elif self.path == "/health":
            self._answer(200, b'{"ok": true}', "application/json")
        else:
            self._answer(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        send = SEND.fullmatch(self.path)
        if not send:
            self._answer(404, b"not found", "text/plain")
            return
        message_id = int(send.group(1))
        refused = self.server.deliveries.check(self.headers.get("Authorization"), body, message_id)
        if refused:
            self._answer(refused[0], refused[1].encode(), "application/json")
            return
        time.sleep(self.server.latency)
        with self.server.lock:
            self.server.deliveries.counts[message_id] += 1
        self._answer(200, OK.encode(), "application/json")

    def do_DELETE(self) -> None:
        if self.path != DELIVERIES:
            self._answer(404, b"not found", "text/plain")
            return
        with self.server.lock:
            self.server.deliveries.counts.clear()
        self._answer(204, b"", "application/json")

    def _answer(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a benchmark server logs nothing per request."""


def main() -> None:
    args = server_args(__doc__ or "", latency_ms=100)
    Server(args.port, args.latency_ms / 1000, args.token).serve_forever()


if __name__ == "__main__":
    main()
