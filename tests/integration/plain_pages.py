"""A page server that, like Python's http.server and many others, never reads a GET request's body.

The sandbox (uvicorn) reads and drops request bodies, which hides a client that sends one with a
GET: here such a body is read as the next request on the keep-alive connection and answered 400.
Every request line and every error answer is recorded, with the client port (the connection).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

WORD = "python"


def page_count(n: int) -> int:
    """How often ``WORD`` is on ``/page/{n}``."""
    return n % 4


def path_query(path: str, name: str) -> str:
    """The value of query parameter ``name`` in a request path ('' when absent)."""
    return parse_qs(urlsplit(path).query).get(name, [""])[0]


@dataclass
class Seen:
    """What the server received: (client port, path, Transfer-Encoding) per request, and error answers."""

    requests: list[tuple[int, str, str | None]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class PlainPages(BaseHTTPRequestHandler):
    """``/page/{n}``; ``/redirect/{n}`` (n hops, then ``/page/0``); ``/loop`` (to itself);
    ``/ping`` <-> ``/pong``; ``/to?url=…``; ``/busy?retry_after=…`` (503); ``/garbage`` (not
    HTTP); ``/drop`` (closes without answering); ``/truncated`` (shorter than its Content-Length);
    ``/cookie-check`` (sets a cookie and redirects to itself until the cookie comes back);
    ``/bad-gzip`` (declared gzip, not gzip)."""

    protocol_version = "HTTP/1.1"
    server: PlainServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        with self.server.seen.lock:
            self.server.seen.requests.append(
                (self.client_address[1], self.path, self.headers.get("Transfer-Encoding"))
            )
        if path.startswith("/page/"):
            n = int(path.rsplit("/", 1)[1])
            self._send(
                200, f"<html><title>page {n}</title><body>{' '.join([WORD] * page_count(n))}</body></html>"
            )
        elif path.startswith("/redirect/"):
            n = int(path.rsplit("/", 1)[1])
            self._redirect(f"/redirect/{n - 1}" if n > 1 else "/page/0")
        elif path == "/loop":
            self._redirect("/loop")
        elif path in ("/ping", "/pong"):
            self._redirect("/pong" if path == "/ping" else "/ping")
        elif path == "/to":
            self._redirect(path_query(self.path, "url"))
        elif path == "/busy":
            self._send(503, "<html>busy</html>", retry_after=path_query(self.path, "retry_after"))
        elif path == "/cookie-check":
            if "checked=1" in (self.headers.get("Cookie") or ""):
                self._send(200, f"<html><body>{WORD} with cookies</body></html>")
            else:
                self._redirect("/cookie-check", cookie="checked=1; Path=/")
        elif path == "/bad-gzip":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", "20")
            self.end_headers()
            self.wfile.write(b"not gzip, not at all")
        elif path == "/garbage":
            self.wfile.write(b"<!DOCTYPE HTML>\n<html><body>not an HTTP answer</body></html>\n")
            self.close_connection = True
        elif path == "/drop":
            self.close_connection = True
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"<html>python")
            self.close_connection = True
        else:
            self._send(404, "<html>not found</html>")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        with self.server.seen.lock:
            self.server.seen.errors.append((code, self.requestline))
        super().send_error(code, message, explain)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: what matters is recorded in ``Seen``."""

    def _send(self, status: int, html: str, retry_after: str = "") -> None:
        body = html.encode()
        self.send_response(status)
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str, cookie: str = "") -> None:
        body = b"<html>moved</html>"
        self.send_response(302)
        self.send_header("Location", location)
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class PlainServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), PlainPages)
        self.seen = Seen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def running_plain_server() -> Iterator[PlainServer]:
    """The server on an ephemeral loopback port, in a thread, for the ``with`` block."""
    server = PlainServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
