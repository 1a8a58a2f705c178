"""The browser's way back to a command-line tool: a one-shot HTTP server on 127.0.0.1 (a free port)
that receives an OAuth callback, answers the browser with a short page, and hands the URL over."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

CALLBACK_PATH = "/callback"
PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Switchyard</title></head>"
    "<body style='font-family: sans-serif; margin: 3em'><h1>Switchyard</h1><p>{}</p></body></html>"
)


class LoopbackCallback:
    """``with LoopbackCallback() as callback``: send the browser to ``callback.redirect_uri``, then
    ``callback.wait(timeout)`` gives the URL it came back with (None when it did not come)."""

    def __init__(self) -> None:
        self._received: str | None = None
        self._arrived = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != CALLBACK_PATH:
                    self.send_error(404)
                    return
                refused = parse_qs(urlsplit(self.path).query).get("error")
                said = (
                    "The authorisation was refused: nothing is connected. You can close this tab."
                    if refused
                    else "The authorisation arrived. You can close this tab and go back to the terminal."
                )
                body = PAGE.format(said).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if not owner._arrived.is_set():
                    owner._received = f"{owner.redirect_uri}?{urlsplit(self.path).query}"
                    owner._arrived.set()

            def log_message(self, format: str, *args: object) -> None:  # the URL holds the code: quiet
                return

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth-callback", daemon=True)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{CALLBACK_PATH}"

    def wait(self, timeout: float) -> str | None:
        """The callback URL, once the browser has come back; None after ``timeout`` seconds."""
        return self._received if self._arrived.wait(timeout) else None

    def __enter__(self) -> LoopbackCallback:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
