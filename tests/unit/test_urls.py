import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.urls import MAX_URL_LENGTH, RefusedURL, check_address, check_url, split_urls

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
