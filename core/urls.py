"""What may be fetched: the URL and address policy that keeps fetching out of the internal network."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from functools import lru_cache

import httpx

from core.settings import IPNetwork

MAX_URL_LENGTH = 2048
# A request's URLs (up to webpages.max_urls) are checked when stored and again when fetched, mostly in
# the same process (the count-words run, or helpers forked from it): the second check is a cache hit.
CHECKED_URLS_KEPT = 20_000
ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
# The spelling most URLs already have, which httpx's normalisation leaves as it is: lower-case scheme
# and host name, no user, a port that is not the scheme's default, a path, a query of characters that
# need no quoting, no fragment. Such a URL is checked without being parsed by httpx (~40 µs a URL, most
# of storing a request of 10,000); tests/unit/test_urls.py compares both ways on generated URLs.
_PLAIN_URL = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(?P<port>[1-9][0-9]{0,4}))?"
    r"/[A-Za-z0-9._~!$&'()*+,;=:@/-]*(?:\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?"
)


class RefusedURL(ValueError):
    """A URL or address that will not be fetched; the message says why."""


def split_urls(text: str) -> list[str]:
    """URLs from text with one per line (a space belongs to its URL); blank lines dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def check_url(url: str, allowed: Sequence[IPNetwork] = ()) -> str:
    """Return ``url`` normalised, or raise :class:`RefusedURL` with the reason.

    Normalised: scheme and host in lower case, no default port, at least ``/`` as the path, no
    fragment (never sent to the server), so two spellings of one page compare equal. Host names
    are not resolved here (that happens when connecting, see connectors/web.py); an
    address written into the URL is checked at once.
    """
    return _checked_url(url, tuple(allowed))


@lru_cache(maxsize=CHECKED_URLS_KEPT)
def _checked_url(url: str, allowed: tuple[IPNetwork, ...]) -> str:
    url = url.strip()
    if not url:
        raise RefusedURL("empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise RefusedURL(f"URL longer than {MAX_URL_LENGTH} characters")
    plain = _plain_url(url)
    if plain is not None:
        _check_host(plain, allowed)
        return url
    return _parsed_and_checked(url, allowed)


def _plain_url(url: str) -> str | None:
    """The host of a URL that normalises to itself (see ``_PLAIN_URL``), else None."""
    match = _PLAIN_URL.fullmatch(url)
    if match is None or "xn--" in match["host"]:  # IDNA labels: httpx validates them
        return None
    if "/." in url.partition("?")[0][match.end("host") :]:
        return None  # a "." or ".." segment, which httpx removes
    host = match["host"]
    if host.rsplit(".", 1)[-1].isdigit() and _literal_address(host) is None:
        return None  # httpx refuses a number that is not an IPv4 address ("1.2.3.456")
    port = match["port"]
    if port is not None and int(port) == DEFAULT_PORTS[match["scheme"]]:
        return None
    return host


def _parsed_and_checked(url: str, allowed: tuple[IPNetwork, ...]) -> str:
    """``check_url``'s work through httpx's parser, for any spelling."""
    try:
        parsed = httpx.URL(url)
        check_parsed_url(parsed, allowed)  # reading the host may raise too (IDNA: "http://xn--a/")
        return str(parsed.copy_with(raw_path=parsed.raw_path, fragment=None))
    except RefusedURL:
        raise
    except (httpx.InvalidURL, ValueError) as exc:
        raise RefusedURL(f"not a valid URL: {exc}") from exc


def check_parsed_url(parsed: httpx.URL, allowed: Sequence[IPNetwork] = ()) -> None:
    """Raise :class:`RefusedURL` unless an already parsed URL may be fetched (see :func:`check_url`)."""
    if not parsed.scheme:
        raise RefusedURL("URL has no scheme: write it as https://… or http://…")
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise RefusedURL(f"only http and https URLs are fetched, not {parsed.scheme}:")
    if not parsed.host:
        raise RefusedURL("URL has no host")
    if parsed.userinfo:
        raise RefusedURL(
            "the URL holds a user name or password (before the @); pages are fetched without "
            "logging in, so remove them"
        )
    _check_host(parsed.host, allowed)


def _check_host(host: str, allowed: Sequence[IPNetwork]) -> None:
    """Raise :class:`RefusedURL` for a host written as a non-public (or shortened) IP address."""
    address = _literal_address(host)
    if address is None and (shorthand := _shorthand_ipv4(host)) is not None:
        raise RefusedURL(
            f"{host} is a shortened way of writing the IP address {shorthand}; write the address in full"
        )
    if address is not None:
        check_address(address, allowed, host=host)


def check_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    allowed: Iterable[IPNetwork] = (),
    *,
    host: str = "",
) -> None:
    """Raise :class:`RefusedURL` unless ``address`` is public or inside an allowed network."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return
    kind = _non_public_kind(address)
    if kind:
        name = f"{host} ({address})" if host and host != str(address) else str(address)
        raise RefusedURL(f"{name} is a {kind} address; fetching it is not allowed")


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _shorthand_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a legacy numeric host (``127.1``, ``2130706433``, ``0x7f.1``) stands for, if it is one."""
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _non_public_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """'' for a public address, else the kind of address that it is."""
    for kind in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "" if address.is_global else "non-public"
