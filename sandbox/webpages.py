"""Web pages for the word-count collector: encodings, tricky markup, redirects, failures, big, slow pages.

Every HTML page is deterministic. ``EXPECTED_COUNTS`` says how often the word "python" is counted on each
page (paths are relative to the mount point, ``/pages``) by this rule: case-insensitive whole-word matches
in the visible text (``<title>`` included; ``<script>``, ``<style>``, ``<template>``, ``<noscript>``,
comments and attribute values excluded; character references decoded), where whole-word means the
characters on either side are not letters, digits or underscore.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import math
import random
from collections.abc import AsyncIterator
from functools import cache, lru_cache

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route, Router

UTF8_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Switchyard sandbox: a UTF-8 page</title>
</head>
<body>
<h1>Data pipelines with Python</h1>
<p>Python is a popular language for data work. 数据处理 (data processing) is common in Python projects.</p>
<p>数据分析和数据可视化是很多团队每天的工作。我们用 Python 编写数据管道。</p>
<p>Café owners in Zürich and naïve beginners alike can learn more about python at the local library.</p>
</body>
</html>
"""

CP1251_PAGE = """<!doctype html>
<html lang="ru">
<head>
{meta}<title>Обработка данных на Python</title>
</head>
<body>
<h1>Как устроена обработка данных</h1>
<p>Обработка данных — важная часть работы любой современной компании. Данные поступают из разных
источников: веб-страниц, баз данных, файлов и внешних сервисов. Инженеры пишут программы на языке
Python, чтобы собирать, очищать и анализировать эти данные. Хорошо устроенный конвейер работает надёжно
и быстро, а ошибки в нём легко найти и исправить.</p>
<p>Каждый день миллионы людей читают новости, смотрят видео и пишут сообщения, и все эти действия порождают
новые данные. Чтобы понять, что происходит, аналитики строят отчёты и графики. Простые инструменты часто
оказываются самыми полезными: небольшой скрипт на Python может сэкономить много часов ручного труда.</p>
<p>Главное правило остаётся прежним: данные нужно проверять, прежде чем делать из них выводы. Если в таблице
есть пропуски или странные значения, их лучше заметить заранее, чем объяснять потом.</p>
</body>
</html>
"""
CP1251_META = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">\n'

GB2312_PAGE = """<!doctype html>
<html lang="zh">
<head>
{meta}<title>网页编码示例</title>
</head>
<body>
<h1>Python 与数据处理</h1>
<p>数据是现代社会的重要资源。每天，互联网上都会产生大量的新数据，包括网页、图片、视频和各种日志。
为了从这些信息中发现有价值的规律，工程师们通常使用 Python 语言编写程序，自动收集和整理数据。</p>
<p>一个好的数据处理系统应该稳定、快速，并且容易维护。当程序出现错误时，开发人员需要能够迅速找到原因并加以修复。
很多公司都建立了自己的分析平台，用来生成报表和图表，帮助管理人员做出决策。</p>
<p>学习编程并不难，只要每天坚持练习，任何人都可以掌握基本的方法。最后需要记住的是：在得出结论之前，
一定要认真检查数据的质量。</p>
</body>
</html>
"""
GB2312_META = '<meta charset="gb2312">\n'

TRICKY_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Python tricky page</title>
<style>.python { color: red; } /* python */</style>
<script>
var lang = "python"; // python in a script
console.log('python');
</script>
</head>
<body class="python" data-lang="python">
<!-- python in a comment -->
<h1 title="python">A page about PYTHON</h1>
<p>Python is great. Some say it is pythonic; a pythonista loves cpython.</p>
<p>This is python's page (python) with python-based tools. We like Python.</p>
<p><img src="logo.png" alt="python"> <a href="https://example.com/python">docs</a></p>
<template><p>python inside a template</p></template>
<noscript>python without scripts</noscript>
<p>Written with a character reference: &#80;ython rocks.</p>
</body>
</html>
"""

PLAIN_TEXT = """Plain text about python.
Python appears here, and PYTHON there.
Not counted: pythonic, cpython, pythonista.
The last one: python!
"""

GZIP_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Compressed page</title></head>
<body>
<p>This page travels gzip-compressed. Python decompresses it; so does any browser, python or not.</p>
</body>
</html>
"""

STATUS_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Status {code}</title></head>
<body><p>Status {code} from the python sandbox.</p></body>
</html>
"""

EXPECTED_COUNTS: dict[str, int] = {
    "/utf8": 5,
    "/cp1251": 3,
    "/gb2312": 2,
    "/tricky": 8,
    "/plain": 4,
    "/gzip": 2,
    "/status/404": 1,
}
EXPECTED_CHINESE: dict[str, tuple[str, int]] = {"/utf8": ("数据", 4), "/gb2312": ("数据", 6)}
EXPECTED_RUSSIAN: dict[str, tuple[str, int]] = {"/cp1251": ("данные", 4)}

DECLARES = ("header", "meta", "none")
MAX_SLOW_SECONDS = 120.0
HANG_SECONDS = 3600.0
MAX_LARGE_MB = 1024.0
CHUNK_BYTES = 64 * 1024
LARGE_HEAD = (
    b'<!doctype html>\n<html lang="en">\n'
    b'<head><meta charset="utf-8"><title>Large page</title></head>\n<body>\n'
)
LARGE_TAIL = b"</body>\n</html>\n"
LARGE_PARAGRAPH = (
    b"<p>A large page streamed in chunks: python keeps reading until the size cap stops it.</p>\n"
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BINARY_BODY = PNG_SIGNATURE + b"\x00\x00\x00\rIHDR" + random.Random(1251).randbytes(4096) + b"\x00" * 16

GENERATED_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Generated page {n}</title>
{style}
</head>
<body data-lang="python">
<h1>Page {n}</h1>
{body}
</body>
</html>
"""
FILLER_WORDS = (
    "data", "river", "stream", "batch", "record", "signal", "market", "orange", "window", "garden",
    "engine", "letter", "number", "simple", "quiet", "bright", "travel", "morning", "system", "network",
    "service", "table", "column", "value", "report", "the", "a", "of", "and", "with", "under", "over",
)  # fmt: skip
CHINESE_SENTENCES = (
    "数据在网络中流动。",
    "我们每天处理很多记录。",
    "这个页面是自动生成的。",
    "测试需要稳定的结果。",
)
PYTHON_FORMS = ("python", "Python", "PYTHON", "python's", "(python)", "python-based", "Python.")
WORD_DECOYS = ("pythonic", "cpython", "pythonista")
BLOCK_DECOYS = (
    '<script>var python = "python"; // python</script>',
    "<style>.python { margin: 0; }</style>",
    "<!-- python -->",
    "<noscript>python</noscript>",
    "<template><p>python</p></template>",
    '<p title="python" class="python"><a href="/python">link</a></p>',
)


def _encoded_page(request: Request, template: str, codec: str, meta: str) -> Response:
    """The page encoded with `codec`, its charset declared where ``?declare=`` says."""
    declare = request.query_params.get("declare", "header")
    if declare not in DECLARES:
        raise HTTPException(400, "declare must be header, meta or none")
    body = template.replace("{meta}", meta if declare == "meta" else "").encode(codec)
    content_type = f"text/html; charset={codec}" if declare == "header" else "text/html"
    return Response(body, headers={"Content-Type": content_type})


def _number(request: Request, name: str, default: float) -> float:
    """A finite number from the query string, else HTTP 400."""
    try:
        value = float(request.query_params.get(name, default))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise HTTPException(400, f"{name} must be a number")
    return value


async def _wait_unless_disconnected(request: Request, seconds: float) -> None:
    """Sleep for `seconds`, returning early when the client goes away."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(disconnected(), seconds)


async def utf8(request: Request) -> Response:
    return HTMLResponse(UTF8_PAGE)


async def cp1251(request: Request) -> Response:
    return _encoded_page(request, CP1251_PAGE, "windows-1251", CP1251_META)


async def gb2312(request: Request) -> Response:
    return _encoded_page(request, GB2312_PAGE, "gb2312", GB2312_META)


async def tricky(request: Request) -> Response:
    return HTMLResponse(TRICKY_PAGE)


async def plain(request: Request) -> Response:
    return PlainTextResponse(PLAIN_TEXT)


async def gzipped(request: Request) -> Response:
    body = gzip.compress(GZIP_PAGE.encode(), mtime=0)
    return Response(body, headers={"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"})


async def redirect(request: Request) -> Response:
    """``/redirect/{n}``: a chain of n redirects ending at the UTF-8 page."""
    n: int = request.path_params["n"]
    if n == 0:
        return HTMLResponse(UTF8_PAGE)
    return RedirectResponse(f"{request.scope['root_path']}/redirect/{n - 1}", status_code=302)


async def redirect_loop(request: Request) -> Response:
    return RedirectResponse(request.url.path, status_code=302)


async def redirect_to(request: Request) -> Response:
    """``/redirect-to?url=...``: a redirect to any absolute URL."""
    url = request.query_params.get("url")
    if not url:
        raise HTTPException(400, "url is required")
    return RedirectResponse(url, status_code=302)


async def status(request: Request) -> Response:
    """``/status/{code}``: that status (200-599) with a small page; 204 and 304 have no body."""
    code: int = request.path_params["code"]
    if not 200 <= code <= 599:
        raise HTTPException(400, "code must be 200-599")
    if code in (204, 304):
        return Response(status_code=code)
    return HTMLResponse(STATUS_PAGE.format(code=code), status_code=code)


async def slow(request: Request) -> Response:
    """``/slow?seconds=2``: the UTF-8 page after a delay (at most 120 s)."""
    seconds = min(max(_number(request, "seconds", 2.0), 0.0), MAX_SLOW_SECONDS)
    await _wait_unless_disconnected(request, seconds)
    return HTMLResponse(UTF8_PAGE)


async def hang(request: Request) -> Response:
    """Never answers (gives up after an hour or when the client leaves)."""
    await _wait_unless_disconnected(request, HANG_SECONDS)
    return Response(status_code=504)


@cache
def _filler(size: int) -> bytes:
    """`size` bytes of whole paragraphs padded with newlines."""
    count, padding = divmod(size, len(LARGE_PARAGRAPH))
    return LARGE_PARAGRAPH * count + b"\n" * padding


async def _large_chunks(count: int) -> AsyncIterator[bytes]:
    for index in range(count):
        await asyncio.sleep(0)  # let the server notice a client that hung up, and stop
        head = LARGE_HEAD if index == 0 else b""
        tail = LARGE_TAIL if index == count - 1 else b""
        yield head + _filler(CHUNK_BYTES - len(head) - len(tail)) + tail


async def large(request: Request) -> Response:
    """``/large?mb=50[&length=1]``: a page of that many MiB (rounded to 64 KiB chunks), streamed."""
    mb = min(_number(request, "mb", 50.0), MAX_LARGE_MB)
    count = max(1, round(mb * 1024 * 1024 / CHUNK_BYTES))
    headers = (
        {"Content-Length": str(count * CHUNK_BYTES)} if request.query_params.get("length") == "1" else {}
    )
    return StreamingResponse(_large_chunks(count), media_type="text/html; charset=utf-8", headers=headers)


async def binary(request: Request) -> Response:
    """A few KB of PNG-like bytes; ``?type=`` sets (or fakes) the content type."""
    return Response(
        BINARY_BODY, headers={"Content-Type": request.query_params.get("type", "application/octet-stream")}
    )


class FlakyPages:
    """``/flaky/{key}?fail=2``: the first `fail` requests for a key answer 503, later ones the UTF-8 page."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    async def respond(self, request: Request) -> Response:
        key: str = request.path_params["key"]
        fail = int(_number(request, "fail", 2))
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.seen[key] <= fail:
            return PlainTextResponse(f"flaky failure {self.seen[key]} of {fail}", status_code=503)
        return HTMLResponse(UTF8_PAGE)


@lru_cache(maxsize=20_000)
def generated_page(n: int) -> tuple[bytes, int]:
    """A deterministic page of 10-20 KB for benchmarks, and how often "python" is counted on it (n % 7).

    Cached, encoded: the sandbox should answer like many fast servers, not spend its CPU building pages.
    """
    rng = random.Random(n)
    paragraphs = [
        [rng.choice(FILLER_WORDS) for _ in range(rng.randint(25, 40))] for _ in range(rng.randint(55, 75))
    ]
    expected = n % 7
    extras = [rng.choice(PYTHON_FORMS) for _ in range(expected)]
    extras += [rng.choice(WORD_DECOYS) for _ in range(rng.randint(1, 4))]
    extras += [rng.choice(CHINESE_SENTENCES) for _ in range(rng.randint(3, 8))]
    for word in extras:
        words = rng.choice(paragraphs)
        words.insert(rng.randint(0, len(words)), word)
    blocks = [f"<p>{' '.join(words)}</p>" for words in paragraphs]
    for block in rng.choices(BLOCK_DECOYS, k=rng.randint(4, 8)):
        blocks.insert(rng.randint(0, len(blocks)), block)
    page = GENERATED_PAGE.format(n=n, style=BLOCK_DECOYS[1], body="\n".join(blocks))
    return page.encode(), expected


async def generated(request: Request) -> Response:
    """``/gen/{n}``: the benchmark page, with its expected count in ``X-Expected-Count``."""
    page, expected = generated_page(request.path_params["n"])
    return HTMLResponse(page, headers={"X-Expected-Count": str(expected)})


def create_router() -> Router:
    """The web-pages router, with its own flaky-page counters."""
    flaky = FlakyPages()
    return Router(
        routes=[
            Route("/utf8", utf8),
            Route("/cp1251", cp1251),
            Route("/gb2312", gb2312),
            Route("/tricky", tricky),
            Route("/plain", plain),
            Route("/gzip", gzipped),
            Route("/redirect/{n:int}", redirect),
            Route("/redirect-loop", redirect_loop),
            Route("/redirect-to", redirect_to),
            Route("/status/{code:int}", status),
            Route("/slow", slow),
            Route("/hang", hang),
            Route("/large", large),
            Route("/binary", binary),
            Route("/flaky/{key}", flaky.respond),
            Route("/gen/{n:int}", generated),
        ]
    )
