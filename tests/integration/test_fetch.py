"""connectors.web against the sandbox: real HTTP on loopback."""

import asyncio
import ipaddress
from collections.abc import Iterator

import pytest

from connectors.web import FetchedPage, FetchError, fetch_page, page_client
from core.settings import FetchSettings
from tests.integration.plain_pages import PlainServer, running_plain_server

LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]


def fetch(url: str, **overrides: object) -> FetchedPage:
    defaults = {
        "allowed_networks": LOOPBACK,
        "read_timeout": 1,
        "connect_timeout": 1,
        "page_deadline": 4,
        "backoff": 0.01,
    }
    settings = FetchSettings(**(defaults | overrides))

    async def run() -> FetchedPage:
        async with page_client(settings) as client:
            return await fetch_page(client, url, settings)

    return asyncio.run(run())


def fetch_error(url: str, **overrides: object) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(url, **overrides)
    return caught.value


def test_plain_page(sandbox_url: str) -> None:
    page = fetch(f"{sandbox_url}/pages/utf8")
    assert page.status_code == 200
    assert page.content_type == "text/html; charset=utf-8"
    assert b"</html>" in page.body


def test_gzip_is_decoded(sandbox_url: str) -> None:
    page = fetch(f"{sandbox_url}/pages/gzip")
    assert page.body.lstrip().lower().startswith(b"<!doctype html")


def test_redirects_are_followed_and_the_final_url_kept(sandbox_url: str) -> None:
    page = fetch(f"{sandbox_url}/pages/redirect/3")
    assert page.final_url == f"{sandbox_url}/pages/redirect/0"


def test_redirect_loop_and_too_many_redirects(sandbox_url: str) -> None:
    assert "redirect" in str(fetch_error(f"{sandbox_url}/pages/redirect-loop"))
    assert "more than 2 redirects" in str(fetch_error(f"{sandbox_url}/pages/redirect/3", max_redirects=2))


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://10.0.0.1/", "private"),
        ("ftp://example.com/", "only http and https"),
        ("http://[::1]/", "loopback"),
        ("http://user:pw@example.com/", "user name or password"),
    ],
)
def test_redirect_to_a_forbidden_place_is_refused(sandbox_url: str, target: str, reason: str) -> None:
    source = f"{sandbox_url}/pages/redirect-to?url={target}"
    error = fetch_error(source)
    assert str(error).startswith(f"refused redirect target {target} (redirected from {source}): ")
    assert reason in str(error)
    assert not error.transient


def test_host_name_resolving_to_loopback_is_refused_at_connect_time(sandbox_url: str) -> None:
    port = sandbox_url.rsplit(":", 1)[1]
    error = fetch_error(f"http://localhost:{port}/pages/utf8", allowed_networks=[])
    assert str(error) == "refused: localhost (127.0.0.1) is a loopback address; fetching it is not allowed"


def test_size_cap_is_enforced_while_streaming(sandbox_url: str) -> None:
    error = fetch_error(f"{sandbox_url}/pages/large?mb=50", max_bytes=1_000_000)
    assert "too large" in str(error)
    assert 1_000_000 < error.bytes_read < 1_200_000


def test_declared_length_over_the_cap_is_refused_before_reading(sandbox_url: str) -> None:
    error = fetch_error(f"{sandbox_url}/pages/large?mb=50&length=1", max_bytes=1_000_000)
    assert "declared" in str(error)
    assert error.bytes_read == 0


def test_client_errors_are_not_retried(sandbox_url: str) -> None:
    error = fetch_error(f"{sandbox_url}/pages/status/404")
    assert error.status_code == 404
    assert not error.transient


def test_transient_errors_are_retried_until_success(sandbox_url: str) -> None:
    page = fetch(f"{sandbox_url}/pages/flaky/fetch-retry?fail=2", retries=2)
    assert page.status_code == 200


def test_retries_are_bounded(sandbox_url: str) -> None:
    error = fetch_error(f"{sandbox_url}/pages/flaky/fetch-bounded?fail=5", retries=1)
    assert error.status_code == 503
    assert error.transient


def test_a_page_that_never_answers_times_out_within_the_deadline(sandbox_url: str) -> None:
    error = fetch_error(f"{sandbox_url}/pages/hang", page_deadline=1.5)
    assert "1.5 s" in str(error)


def test_connection_refused_is_named(sandbox_url: str) -> None:
    error = fetch_error("http://127.0.0.1:1/", retries=0)
    assert str(error) == "could not connect to 127.0.0.1 port 1: connection refused"


@pytest.fixture
def plain_server() -> Iterator[PlainServer]:
    with running_plain_server() as server:
        yield server


def fetch_in_turn(urls: list[str]) -> list[FetchedPage | FetchError]:
    """Fetch ``urls`` one after another through one client with one connection (the next reuses it)."""
    settings = FetchSettings(allowed_networks=LOOPBACK, concurrency=1, retries=0, read_timeout=2)

    async def run() -> list[FetchedPage | FetchError]:
        results: list[FetchedPage | FetchError] = []
        async with page_client(settings) as client:
            for url in urls:
                try:
                    results.append(await fetch_page(client, url, settings))
                except FetchError as error:
                    results.append(error)
        return results

    return asyncio.run(run())


def test_redirects_loops_and_the_next_page_are_right_on_a_server_that_reads_no_bodies(
    plain_server: PlainServer,
) -> None:
    base = plain_server.url
    for _batch in range(10):
        plain_server.seen.requests.clear()
        redirected, page, loop, ping, page_after_loop, chain, last = fetch_in_turn(
            [
                f"{base}/redirect/2",
                f"{base}/page/1",
                f"{base}/loop",
                f"{base}/ping",
                f"{base}/page/2",
                f"{base}/to?url={base}/redirect/1",
                f"{base}/page/3",
            ]
        )
        assert isinstance(redirected, FetchedPage) and redirected.final_url == f"{base}/page/0"
        assert isinstance(page, FetchedPage) and page.body.count(b"python") == 1
        assert isinstance(loop, FetchError) and str(loop).startswith(f"redirect loop: {base}/loop redirects")
        assert isinstance(ping, FetchError) and "redirect loop" in str(ping)
        assert isinstance(page_after_loop, FetchedPage) and page_after_loop.body.count(b"python") == 2
        assert isinstance(chain, FetchedPage) and chain.final_url == f"{base}/page/0"
        assert isinstance(last, FetchedPage) and last.body.count(b"python") == 3
        requests = plain_server.seen.requests
        assert all(encoding is None for _port, _path, encoding in requests)
        assert len({port for port, _path, _encoding in requests}) < len(requests)  # connections were reused
    assert plain_server.seen.errors == []


def test_the_redirect_limit_counts_hops_on_a_server_that_reads_no_bodies(plain_server: PlainServer) -> None:
    error = fetch_error(f"{plain_server.url}/redirect/6")
    last = f"{plain_server.url}/page/0"
    assert str(error) == f"more than 5 redirects (a redirect loop?); the last pointed to {last}"
    assert fetch(f"{plain_server.url}/redirect/5").final_url == f"{plain_server.url}/page/0"
    assert plain_server.seen.errors == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/garbage", "the answer from {where} is not valid HTTP"),
        ("/drop", "{where} closed the connection without answering"),
        ("/truncated", "the connection to {where} broke off while the page was being read"),
        (
            "/to?url={base}/drop",
            "{where} closed the connection without answering "
            "(redirect target {base}/drop, from {base}/to?url={base}/drop)",
        ),
    ],
)
def test_failures_are_told_in_sentences_not_in_aiohttps_words(
    plain_server: PlainServer, path: str, message: str
) -> None:
    base = plain_server.url
    where = f"127.0.0.1 port {plain_server.server_address[1]}"
    error = fetch_error(base + path.format(base=base), retries=0)
    assert str(error) == message.format(base=base, where=where)


def test_a_cookie_check_that_redirects_a_page_to_itself_is_passed(plain_server: PlainServer) -> None:
    page = fetch(f"{plain_server.url}/cookie-check")
    assert page.final_url == f"{plain_server.url}/cookie-check"
    assert b"with cookies" in page.body
    assert plain_server.seen.errors == []


def test_content_that_is_not_what_its_encoding_says_is_named(plain_server: PlainServer) -> None:
    error = fetch_error(f"{plain_server.url}/bad-gzip")
    assert str(error) == "the page's compressed content could not be decoded"
    assert not error.transient


def test_a_tls_failure_is_told_without_connector_internals(plain_server: PlainServer) -> None:
    port = plain_server.server_address[1]
    error = fetch_error(f"https://127.0.0.1:{port}/page/1", retries=0)
    assert str(error) == f"no secure (TLS) connection could be made to 127.0.0.1 port {port}"
    assert not error.transient


def test_an_unknown_host_name_is_named() -> None:
    error = fetch_error("http://no-such-host.invalid/", retries=0, allowed_networks=[])
    assert str(error) == "the host name no-such-host.invalid was not found (DNS)"


def test_a_server_that_sends_nothing_is_told_by_the_read_timeout(sandbox_url: str) -> None:
    port = sandbox_url.rsplit(":", 1)[1]
    error = fetch_error(f"{sandbox_url}/pages/hang", retries=0, read_timeout=0.5)
    assert str(error) == f"127.0.0.1 port {port} sent nothing for 0.5 s"
    assert error.transient


def test_a_shortened_ip_address_is_refused_with_its_meaning() -> None:
    error = fetch_error("http://127.1/")
    assert str(error) == (
        "refused: 127.1 is a shortened way of writing the IP address 127.0.0.1; write the address in full"
    )


def test_retry_after_is_honoured_and_a_wait_past_the_deadline_is_not_made(plain_server: PlainServer) -> None:
    too_late = fetch_error(f"{plain_server.url}/busy?retry_after=3600", retries=2, page_deadline=4)
    soon = fetch_error(f"{plain_server.url}/busy?retry_after=0", retries=2, page_deadline=4)

    assert str(too_late) == str(soon) == "HTTP 503 Service Unavailable"
    assert too_late.transient and too_late.retry_after == 3600
    tries = [path for _port, path, _encoding in plain_server.seen.requests]
    assert tries.count("/busy?retry_after=3600") == 1 and tries.count("/busy?retry_after=0") == 3
