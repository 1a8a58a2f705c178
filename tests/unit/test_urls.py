import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.urls import (
    MAX_URL_LENGTH,
    RefusedURL,
    _parsed_and_checked,
    _plain_url,
    check_address,
    check_url,
    split_urls,
)

LOOPBACK_ONLY = [ipaddress.ip_network("127.0.0.1/32")]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("http://", "no host"),
        ("example.com/page", "no scheme"),
        ("", "empty"),
        ("   ", "empty"),
        ("http://10.0.0.1/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://172.16.0.5/", "private"),
        ("http://127.0.0.1:8000/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://224.0.0.1/", "multicast"),
        ("https://example.com/" + "a" * MAX_URL_LENGTH, "longer than"),
        ("http://user:pw@example.com/", "user name or password"),
        ("http://user@example.com/", "user name or password"),
        ("http://127.1/", "shortened way of writing the IP address 127.0.0.1"),
        ("http://2130706433/", "shortened way of writing the IP address 127.0.0.1"),
        ("http://0x7f.1/", "shortened way of writing the IP address 127.0.0.1"),
    ],
)
def test_refused_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(RefusedURL, match=reason):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    ["http://example.com", "https://example.com/a?b=c#d", "http://93.184.216.34/", "https://例子.测试/路径"],
)
def test_public_urls_pass(url: str) -> None:
    assert check_url(url).startswith(("http://", "https://"))


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("HTTP://Example.COM/Path", "http://example.com/Path"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com?q=1", "http://example.com/?q=1"),
        ("https://example.com:443/a#section", "https://example.com/a"),
        ("http://example.com:8080/a%2Fb?x=%20", "http://example.com:8080/a%2Fb?x=%20"),
    ],
)
def test_urls_are_normalised_so_one_page_has_one_spelling(url: str, normalised: str) -> None:
    assert check_url(url) == normalised


def test_host_names_are_left_to_connect_time() -> None:
    # a name that resolves to loopback is refused by the resolver guard when connecting, not here
    assert check_url("http://localhost:1/") == "http://localhost:1/"


def test_allow_list_admits_exactly_its_networks() -> None:
    assert check_url("http://127.0.0.1:8001/pages", LOOPBACK_ONLY) == "http://127.0.0.1:8001/pages"
    with pytest.raises(RefusedURL, match="loopback"):
        check_url("http://127.0.0.2/", LOOPBACK_ONLY)
    with pytest.raises(RefusedURL, match="private"):
        check_url("http://10.0.0.1/", LOOPBACK_ONLY)


@given(st.ip_addresses())
def test_every_non_global_address_is_refused_without_allow_list(address: ipaddress.IPv4Address) -> None:
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    effective = mapped or address
    if effective.is_global and not (effective.is_multicast or effective.is_reserved):
        check_address(address)
    else:
        with pytest.raises(RefusedURL):
            check_address(address)


def test_split_urls_takes_one_url_per_line_and_drops_blank_lines() -> None:
    text = "http://a.example\n\n  http://b.example/a page \r\nhttp://a.example\n  "
    assert split_urls(text) == ["http://a.example", "http://b.example/a page", "http://a.example"]


# URLs built from the pieces the plain-spelling shortcut accepts, and from some it must leave to httpx.
_LABEL = st.text("abcxyz019-", min_size=1, max_size=6)
_HOST = st.one_of(
    st.lists(_LABEL, min_size=1, max_size=4).map(".".join),
    st.sampled_from(
        ["127.0.0.1", "127.1", "10.0.0.1", "2130706433", "0x7f.1", "93.184.216.34", "xn--abc.com"]
    ),
    st.sampled_from(["Example.com", "a_b.com", "[::1]", "例子.测试", "a..b", ""]),
)
_PORT = st.one_of(st.just(""), st.integers(0, 99_999).map(lambda port: f":{port}"), st.just(":080"))
_PATH_CHARS = "Az09._~!$&'()*+,;=:@/-?%# \"|^`{}<>\u00e9"
_TAIL = st.text(_PATH_CHARS, max_size=12)


def _both_ways(url: str) -> tuple[str, str]:
    try:
        return "ok", _parsed_and_checked(url, tuple(LOOPBACK_ONLY))
    except RefusedURL as exc:
        return "refused", str(exc)


@given(st.sampled_from(["http", "https", "HTTP", "ftp"]), _HOST, _PORT, st.sampled_from(["", "/"]), _TAIL)
def test_the_plain_spelling_shortcut_agrees_with_httpx(
    scheme: str, host: str, port: str, slash: str, tail: str
) -> None:
    url = f"{scheme}://{host}{port}{slash}{tail}".strip()
    expected = _both_ways(url)
    if _plain_url(url) is not None:  # the shortcut takes it: httpx must keep it as it is
        assert expected[0] == "refused" or expected[1] == url
    try:
        assert ("ok", check_url(url, LOOPBACK_ONLY)) == expected
    except RefusedURL as exc:
        assert ("refused", str(exc)) == expected


def test_the_shortcut_takes_the_common_spelling() -> None:
    assert _plain_url("http://127.0.0.1:20402/pages/gen/7") == "127.0.0.1"
    assert _plain_url("https://example.com/a/b?x=1&y=(2)") == "example.com"
    for url in ["http://example.com", "http://Example.com/", "http://example.com:80/", "http://a.com/#x"]:
        assert _plain_url(url) is None


def test_a_host_that_is_not_a_name_is_refused_with_the_reason() -> None:
    with pytest.raises(RefusedURL, match="not a valid URL"):
        check_url("http://xn--a/")


@given(
    st.sampled_from(["http", "https"]),
    st.one_of(st.lists(_LABEL, min_size=1, max_size=4).map(".".join), st.ip_addresses(v=4).map(str)),
    _PORT,
    st.text("Az09._~!$&'()*+,;=:@/-", max_size=16),
    st.one_of(st.just(""), st.text("Az09._~!$&'()*+,;=:@/?-", max_size=8).map(lambda q: f"?{q}")),
)
def test_plain_spellings_are_checked_as_httpx_checks_them(
    scheme: str, host: str, port: str, path: str, query: str
) -> None:
    url = f"{scheme}://{host}{port}/{path}{query}"
    try:
        assert ("ok", check_url(url, LOOPBACK_ONLY)) == _both_ways(url)
    except RefusedURL as exc:
        assert ("refused", str(exc)) == _both_ways(url)
