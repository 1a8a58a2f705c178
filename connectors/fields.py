"""Reading JSON answers of outside services field by field: a success answer that does not hold what
it should raises Malformed, naming the field (never a KeyError or a TypeError)."""

from __future__ import annotations

from typing import Any


class Malformed(ValueError):
    """A success answer that does not hold what it should."""


def as_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{where} is not an object")
    return value


def field(obj: dict[str, Any], name: str, where: str) -> object:
    if name not in obj:
        raise Malformed(f"{where}.{name} is missing")
    return obj[name]


def string(obj: dict[str, Any], name: str, where: str, *, default: str | None = None) -> str:
    if default is not None and obj.get(name) is None:
        return default
    value = field(obj, name, where)
    if not isinstance(value, str):
        raise Malformed(f"{where}.{name} is not a string")
    return value
