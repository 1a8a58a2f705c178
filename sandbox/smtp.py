"""The SMTP stand-in (``aiosmtpd``): accepts every message on loopback and keeps the last
``sandbox.smtp_keep`` in memory, shown over the sandbox's HTTP port.

- ``GET /smtp/messages``: what it received, oldest first (from, to, subject, body, received_at);
- ``DELETE /smtp/messages``: forget them.

A login is accepted only for ``sandbox.smtp_user``/``sandbox.smtp_password`` when a user is set (and
then required), over the plain connection: the stand-in listens on loopback only and offers no
STARTTLS, so development runs with ``report.smtp_starttls`` off.
"""

from __future__ import annotations

import threading
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from core.settings import SandboxSettings


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    recipients: list[str]
    subject: str
    body: str
    received_at: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("sender")
        data["to"] = data.pop("recipients")
        return data


class Mailbox:
    """The last ``keep`` messages received; safe to read from the HTTP thread while SMTP writes."""

    def __init__(self, keep: int = 500) -> None:
        self._messages: deque[ReceivedMail] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._messages.append(mail)

    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> int:
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
            return count


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


class KeepingHandler:
    """aiosmtpd handler: every message accepted is parsed and kept in the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode("utf-8")
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.mailbox.add(
            ReceivedMail(
                sender=envelope.mail_from or "",
                recipients=list(envelope.rcpt_tos),
                subject=str(message.get("Subject", "")),
                body=_body(message),
                received_at=datetime.now(UTC).isoformat(),
            )
        )
        return "250 Message accepted for delivery"


def _authenticator(user: str, password: str) -> Any:
    def check(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


class _Controller(Controller):
    """aiosmtpd's threaded controller, on an ephemeral port when asked for port 0."""

    def factory(self) -> SMTP:
        with warnings.catch_warnings():  # AUTH without TLS is on purpose here: loopback only
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            return super().factory()

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def smtp_controller(mailbox: Mailbox, config: SandboxSettings, port: int | None = None) -> Controller:
    """A controller (not started) serving the stand-in on ``config.host`` and ``port`` (default
    ``config.smtp_port``; 0: an ephemeral port, read from ``.port`` once started)."""
    options: dict[str, Any] = {}
    if config.smtp_user:
        options = {
            "authenticator": _authenticator(config.smtp_user, config.smtp_password),
            "auth_required": True,
            "auth_require_tls": False,  # loopback only, no STARTTLS offered
        }
    return _Controller(
        KeepingHandler(mailbox),
        hostname=config.host,
        port=config.smtp_port if port is None else port,
        server_hostname="sandbox.smtp",
        **options,
    )


@contextmanager
def running_smtp(mailbox: Mailbox, config: SandboxSettings, port: int = 0) -> Iterator[int]:
    """Serve the stand-in in a background thread; yields its port."""
    controller = smtp_controller(mailbox, config, port)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


async def messages(request: Request) -> Response:
    mailbox: Mailbox = request.app.state.mailbox
    if request.method == "DELETE":
        return JSONResponse({"deleted": mailbox.clear()})
    return JSONResponse({"messages": [mail.to_json() for mail in mailbox.messages()]})


def create_router() -> Router:
    """The stand-in's HTTP side; its mailbox lives on the app (``app.state.mailbox``)."""
    return Router(routes=[Route("/messages", messages, methods=["GET", "DELETE"])])
