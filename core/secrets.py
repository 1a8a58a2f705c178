"""Keeping secrets out of what people and logs see."""

from __future__ import annotations

MIN_SECRET_LENGTH = 8  # settings refuse shorter secrets; shorter ones are never searched for in text


def redact(text: str, secret: str, label: str = "[secret]") -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``label``.

    A secret too short to be one (under ``MIN_SECRET_LENGTH``) is not searched for: replacing its
    letters wherever they occur in other text would reveal it.
    """
    if len(secret) < MIN_SECRET_LENGTH:
        return text
    return text.replace(secret, label)
