"""E-mail over SMTP (``smtplib``): one message to the recipients of the report settings.

Settings used: ``SWITCHYARD_REPORT__SMTP_*`` (host, port, STARTTLS, user, password, timeout),
``SWITCHYARD_REPORT__SENDER`` and ``SWITCHYARD_REPORT__RECIPIENTS``. The password is a secret: it never
appears in an error or a log line (`describe_failure` names what failed, not the settings' values).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from core.settings import ReportSettings


class MailError(Exception):
    """The e-mail could not be sent; the message says why in one line, without secrets."""


def build_message(settings: ReportSettings, subject: str, body: str) -> EmailMessage:
    """A plain-text UTF-8 message from the sender to every recipient."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rsplit("@", 1)[-1])
    message.set_content(body)
    return message


def describe_failure(exc: BaseException, settings: ReportSettings) -> str:
    """One line for a person: what failed and where, never the password."""
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"SMTP server {where} refused the login of {settings.smtp_user!r} ({exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"SMTP server {where} refused every recipient ({', '.join(exc.recipients)})"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return f"SMTP server {where} answered {exc.smtp_code}: {' '.join(str(text).split())[:200]}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"SMTP server {where} does not support {exc}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"SMTP server {where} did not answer within {settings.smtp_timeout:g} s"
    if isinstance(exc, ssl.SSLError):
        return f"STARTTLS with {where} failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, OSError):
        return f"could not reach SMTP server {where} ({exc.strerror or type(exc).__name__})"
    return f"e-mail to {where} failed ({type(exc).__name__})"


def send_mail(settings: ReportSettings, subject: str, body: str) -> None:
    """Send one message; raises MailError naming what failed. A recipient refused among others
    accepted is not an error (the others got it)."""
    message = build_message(settings, subject, body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout) as smtp:
            smtp.ehlo()
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            # the message's own policy: smtplib's send_message would write a body line "From …" as
            # ">From …" (the mbox escape of its default generator)
            smtp.sendmail(settings.sender, list(settings.recipients), message.as_bytes(policy=policy.SMTP))
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(describe_failure(exc, settings)) from None
