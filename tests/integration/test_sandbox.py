"""The sandbox's web pages, served by uvicorn on loopback and fetched with httpx."""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest

from core.settings import SandboxSettings
from sandbox.app import create_app
from sandbox.server import running_sandbox
from sandbox.webpages import (
    BINARY_BODY,
    EXPECTED_CHINESE,
    EXPECTED_COUNTS,
    EXPECTED_RUSSIAN,
    PNG_SIGNATURE,
    UTF8_PAGE,
    generated_page,
)

MIB = 1024 * 1024
CODECS = {"/cp1251": "windows-1251", "/gb2312": "gb2312"}


class VisibleText(HTMLParser):
    """Reference reading of the counting rule: text outside hidden elements, comments and attributes."""

    HIDDEN = frozenset({"script", "style", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden_depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.hidden_depth:
            self.hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden_depth:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def whole_words(text: str, word: str) -> int:
    return len(re.findall(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE))


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_sandbox(SandboxSettings()) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        yield client


def test_health(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_utf8_page_declares_its_charset(client: httpx.Client) -> None:
    response = client.get("/pages/utf8")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content.decode("utf-8") == UTF8_PAGE
    assert "数据" in response.text


@pytest.mark.parametrize("path", sorted(EXPECTED_COUNTS))
def test_expected_counts_match_the_pages(client: httpx.Client, path: str) -> None:
    response = client.get(f"/pages{path}")
    text = response.content.decode(CODECS.get(path, "utf-8"))
    if response.headers["content-type"].startswith("text/html"):
        text = visible_text(text)
    assert whole_words(text, "python") == EXPECTED_COUNTS[path]


@pytest.mark.parametrize("path", sorted(EXPECTED_CHINESE))
def test_expected_chinese(client: httpx.Client, path: str) -> None:
    word, expected = EXPECTED_CHINESE[path]
    html = client.get(f"/pages{path}").content.decode(CODECS.get(path, "utf-8"))
    assert visible_text(html).count(word) == expected


@pytest.mark.parametrize("path", sorted(EXPECTED_RUSSIAN))
def test_expected_russian(client: httpx.Client, path: str) -> None:
    word, expected = EXPECTED_RUSSIAN[path]
    html = client.get(f"/pages{path}").content.decode(CODECS[path])
    assert whole_words(visible_text(html), word) == expected


@pytest.mark.parametrize("path", sorted(CODECS))
@pytest.mark.parametrize("declare", ["header", "meta", "none"])
def test_legacy_encodings_declared_where_asked(client: httpx.Client, path: str, declare: str) -> None:
    codec = CODECS[path]
    response = client.get(f"/pages{path}", params={"declare": declare})
    assert response.status_code == 200
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")
    html = response.content.decode(codec)
    in_header = response.headers["content-type"] == f"text/html; charset={codec}"
    in_meta = f"charset={codec}" in html.replace('"', "")
    assert (in_header, in_meta) == (declare == "header", declare == "meta")
    if declare != "header":
        assert response.headers["content-type"] == "text/html"
    if declare == "none":
        assert b"charset" not in response.content


def test_legacy_page_rejects_unknown_declare(client: httpx.Client) -> None:
    assert client.get("/pages/cp1251", params={"declare": "body"}).status_code == 400


def test_tricky_page_holds_its_decoys(client: httpx.Client) -> None:
    html = client.get("/pages/tricky").text
    for decoy in (
        "<script>",
        ".python {",
        'alt="python"',
        "<!-- python",
        "<template>",
        "<noscript>",
        "cpython",
    ):
        assert decoy in html
    assert "&#80;ython" in html
    assert len(re.findall("python", html, re.IGNORECASE)) > EXPECTED_COUNTS["/tricky"]


def test_plain_text(client: httpx.Client) -> None:
    response = client.get("/pages/plain")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_gzip_page_is_compressed(client: httpx.Client) -> None:
    with client.stream("GET", "/pages/gzip") as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert raw.startswith(b"\x1f\x8b")
    assert int(response.headers["content-length"]) == len(raw)
    assert "gzip-compressed" in client.get("/pages/gzip").text


def test_redirect_chain(client: httpx.Client) -> None:
    first = client.get("/pages/redirect/3")
    assert first.status_code == 302
    assert first.headers["location"] == "/pages/redirect/2"
    final = client.get("/pages/redirect/3", follow_redirects=True)
    assert len(final.history) == 3
    assert final.url.path == "/pages/redirect/0"
    assert final.text == UTF8_PAGE


def test_redirect_loop(client: httpx.Client) -> None:
    response = client.get("/pages/redirect-loop")
    assert response.status_code == 302
    assert response.headers["location"] == "/pages/redirect-loop"
    with pytest.raises(httpx.TooManyRedirects):
        client.get("/pages/redirect-loop", follow_redirects=True)


def test_redirect_to_any_url(client: httpx.Client) -> None:
    target = "file:///etc/passwd"
    response = client.get("/pages/redirect-to", params={"url": target})
    assert response.status_code == 302
    assert response.headers["location"] == target
    assert client.get("/pages/redirect-to").status_code == 400


@pytest.mark.parametrize("code", [200, 404, 410, 429, 500, 503])
def test_status(client: httpx.Client, code: int) -> None:
    response = client.get(f"/pages/status/{code}")
    assert response.status_code == code
    assert whole_words(visible_text(response.text), "python") == 1


def test_slow_page(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.get("/pages/slow", params={"seconds": 0.3})
    assert time.monotonic() - started >= 0.3
    assert response.text == UTF8_PAGE
    with pytest.raises(httpx.ReadTimeout):
        client.get("/pages/slow", params={"seconds": 5}, timeout=httpx.Timeout(5.0, read=0.2))


def test_hang_does_not_block_other_requests(base_url: str, client: httpx.Client) -> None:
    url = httpx.URL(base_url)
    with socket.create_connection((url.host, url.port), timeout=5) as hanging:
        # the hanging request is on the wire before the next one is sent: no sleep needed
        hanging.sendall(f"GET /pages/hang HTTP/1.1\r\nHost: {url.host}\r\n\r\n".encode())
        assert client.get("/pages/utf8").status_code == 200
        hanging.settimeout(0.2)
        with pytest.raises(TimeoutError):
            hanging.recv(1)  # still no answer to the hanging request


def test_large_page_streams_without_length(client: httpx.Client) -> None:
    received = bytearray()
    with client.stream("GET", "/pages/large", params={"mb": 50}) as response:
        assert "content-length" not in response.headers
        assert response.headers["transfer-encoding"] == "chunked"
        for chunk in response.iter_bytes():
            received += chunk
            if len(received) >= MIB:
                break
    assert received.startswith(b"<!doctype html>")
    assert received.count(b"python") > 1000


def test_large_page_with_length(client: httpx.Client) -> None:
    with client.stream("GET", "/pages/large", params={"mb": 50, "length": 1}) as response:
        assert response.headers["content-length"] == str(50 * MIB)
    response = client.get("/pages/large", params={"mb": 1, "length": 1})
    assert len(response.content) == int(response.headers["content-length"]) == MIB
    assert response.content.endswith(b"</html>\n")


def test_large_page_exact_size_without_length(client: httpx.Client) -> None:
    assert len(client.get("/pages/large", params={"mb": 2}).content) == 2 * MIB


@pytest.mark.parametrize(
    ("type_param", "content_type"),
    [(None, "application/octet-stream"), ("image/png", "image/png"), ("text/html", "text/html")],
)
def test_binary(client: httpx.Client, type_param: str | None, content_type: str) -> None:
    params = {"type": type_param} if type_param else {}
    response = client.get("/pages/binary", params=params)
    assert response.headers["content-type"] == content_type
    assert response.content == BINARY_BODY
    assert response.content.startswith(PNG_SIGNATURE)
    assert b"\x00" in response.content
    assert 2048 < len(response.content) < 8192


def test_flaky_fails_exactly_fail_times(client: httpx.Client) -> None:
    key = uuid.uuid4().hex
    statuses = [client.get(f"/pages/flaky/{key}", params={"fail": 2}).status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert client.get(f"/pages/flaky/{uuid.uuid4().hex}", params={"fail": 0}).status_code == 200


@pytest.mark.parametrize("n", [0, 6, 7, 13, 1000])
def test_generated_page(client: httpx.Client, n: int) -> None:
    response = client.get(f"/pages/gen/{n}")
    expected = int(response.headers["x-expected-count"])
    assert expected == n % 7
    assert response.content == generated_page(n)[0]
    assert 10_000 <= len(response.content) <= 20_000
    assert whole_words(visible_text(response.text), "python") == expected


def test_fault_and_latency_knobs() -> None:
    app = create_app(SandboxSettings())
    with running_sandbox(app=app) as url, httpx.Client(base_url=url, timeout=5.0) as client:
        assert client.get("/pages/utf8").status_code == 200
        app.state.config = SandboxSettings(fault_rate=1.0)
        response = client.get("/pages/utf8")
        assert response.status_code == 500
        assert "fault" in response.text
        assert client.get("/health").status_code == 200
        app.state.config = SandboxSettings(latency_ms=200)
        started = time.monotonic()
        assert client.get("/pages/utf8").status_code == 200
        assert time.monotonic() - started >= 0.2


def test_faults_are_seeded() -> None:
    def statuses() -> list[int]:
        with (
            running_sandbox(SandboxSettings(fault_rate=0.5, seed=7)) as url,
            httpx.Client(base_url=url) as client,
        ):
            return [client.get("/pages/plain").status_code for _ in range(20)]

    first = statuses()
    assert set(first) == {200, 500}
    assert statuses() == first
