import codecs
import re
import unicodedata
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules import wordcount
from rules.wordcount import (
    PageText,
    UnsupportedContent,
    case_variants,
    count_word,
    decode_page,
    normalise_word,
    visible_text,
    word_pattern,
)

RUSSIAN = (
    "Python — высокоуровневый язык программирования общего назначения с динамической строгой типизацией "
    "и автоматическим управлением памятью. Язык ориентирован на повышение производительности разработчика, "
    "читаемости кода и его качества. Python широко используется для анализа данных, машинного обучения, "
    "автоматизации и веб-разработки. Многие российские компании, банки и университеты выбирают Python "
    "как основной язык."
)
CHINESE = (
    "Python是一种广泛使用的高级编程语言，第一版发布于1991年。它的设计哲学强调代码的可读性和简洁的语法。"
    "近年来，越来越多的中国公司使用Python进行数据分析、人工智能研究和网站开发。"
    "学习Python对于大学生来说非常重要，很多学校已经开设了相关课程。"
)


def html_page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head>{head}<title>Test</title></head><body>{body}</body></html>"


# --- content kind ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/html", "text/html; charset=utf-8", "TEXT/HTML", "application/xhtml+xml"]
)
def test_html_types_give_visible_text(content_type: str) -> None:
    page = decode_page(b"<p>python <!-- python --></p>", content_type)
    assert page == PageText(text="python", charset="utf-8", kind="html")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/csv", "text/xml", "application/json", "application/xml", "application/rss+xml"],
)
def test_text_types_keep_the_whole_text(content_type: str) -> None:
    body = b'<html><p title="python">python</p></html>'
    assert decode_page(body, content_type) == PageText(body.decode(), "utf-8", "text")


@pytest.mark.parametrize(
    "content_type",
    ["application/octet-stream", "image/png", "image/svg+xml", "audio/mpeg", "video/mp4", "application/pdf"],
)
def test_binary_types_are_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedContent, match=re.escape(f"binary content ({content_type})")):
        decode_page(b"python", content_type)


def test_unsupported_content_is_a_value_error() -> None:
    assert issubclass(UnsupportedContent, ValueError)


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><p>python</p>",
        b"\n  <html lang='en'><p>python</p>",
        b"<?xml version='1.0'?>\n<!-- generated --><HTML><p>python</p>",
        b"<head><title>python</title></head>",
        b"<body>python</body>",
    ],
)
def test_undeclared_html_is_sniffed(body: bytes) -> None:
    page = decode_page(body, None)
    assert (page.kind, page.text) == ("html", "python")


@pytest.mark.parametrize("content_type", [None, "", "unknown/unknown", "garbage"])
def test_undeclared_text_is_sniffed(content_type: str | None) -> None:
    body = b"python notes: <b> is bold, <header> is not a document"
    assert decode_page(body, content_type) == PageText(body.decode(), "utf-8", "text")


@pytest.mark.parametrize(
    "body",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"%PDF-1.7 python \x00 stream", b"\xef\xbb\xbfpy\x00thon"],
)
def test_undeclared_body_with_nul_bytes_is_binary(body: bytes) -> None:
    with pytest.raises(UnsupportedContent, match="binary content"):
        decode_page(body, None)


def test_declared_html_that_is_binary_is_unsupported() -> None:
    with pytest.raises(UnsupportedContent, match="declared text/html but the body is binary"):
        decode_page(b"GIF89a\x01\x00\x01\x00\x00\xff\x00<html>", "text/html; charset=utf-8")


def test_nul_bytes_after_the_first_kilobyte_are_tolerated() -> None:
    page = decode_page(b"python " * 200 + b"\x00", "text/plain")
    assert count_word(page.text, "python") == 200


@pytest.mark.parametrize("content_type", [None, "text/html"])
def test_utf16_with_bom_is_not_mistaken_for_binary(content_type: str | None) -> None:
    page = decode_page(codecs.BOM_UTF16_LE + "<html><p>Привет, python</p>".encode("utf-16-le"), content_type)
    assert page == PageText("Привет, python", "utf-16-le", "html")


def test_utf16_declared_in_the_header_is_not_mistaken_for_binary() -> None:
    page = decode_page("python 学习".encode("utf-16-le"), "text/plain; charset=UTF-16")
    assert page == PageText("python 学习", "utf-16-le", "text")


# --- charset --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")],
)
def test_bom_wins_over_the_header(bom: bytes, codec: str) -> None:
    page = decode_page(bom + "Привет, python".encode(codec), "text/plain; charset=windows-1251")
    assert page == PageText("Привет, python", codec, "text")


@pytest.mark.parametrize(
    ("content_type", "codec", "charset"),
    [
        ("text/plain; charset=windows-1251", "cp1251", "windows-1251"),
        ('text/plain; charset="KOI8-R"', "koi8_r", "koi8-r"),
        ("text/plain;charset='iso-8859-5'", "iso8859_5", "iso-8859-5"),
        ("text/plain; format=flowed; charset=cp866", "cp866", "cp866"),
    ],
)
def test_header_charset(content_type: str, codec: str, charset: str) -> None:
    assert decode_page(RUSSIAN.encode(codec, "replace"), content_type).charset == charset
    assert decode_page("Привет".encode(codec), content_type).text == "Привет"


def test_header_charset_wins_over_meta() -> None:
    html = html_page("<p>Привет</p>", head='<meta charset="utf-8">')
    page = decode_page(html.encode("cp1251"), "text/html; charset=windows-1251")
    assert (page.text, page.charset) == ("Test Привет", "windows-1251")


@pytest.mark.parametrize(
    ("meta", "codec", "charset"),
    [
        ('<meta charset="windows-1251">', "cp1251", "windows-1251"),
        ("<META CHARSET=koi8-r>", "koi8_r", "koi8-r"),
        (
            '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">',
            "cp1251",
            "windows-1251",
        ),
        ("<meta content='text/html;charset=KOI8-R' http-equiv='content-type'>", "koi8_r", "koi8-r"),
        ("<meta charset=gb2312>", "gb2312", "gb18030"),
    ],
)
def test_meta_charset(meta: str, codec: str, charset: str) -> None:
    body = html_page("<p>Привет, мир</p>", head=meta).encode(codec)
    for content_type in ("text/html", None):
        assert decode_page(body, content_type) == PageText("Test Привет, мир", charset, "html")


def test_meta_after_4096_bytes_is_ignored() -> None:
    html = html_page("<p>Привет</p>", head="<!--" + " " * 4100 + '--><meta charset="koi8-r">')
    assert decode_page(html.encode("utf-8"), "text/html").charset == "utf-8"


def test_meta_is_ignored_in_plain_text() -> None:
    body = '<meta charset="windows-1251"> Привет'.encode()
    assert decode_page(body, "text/plain").charset == "utf-8"


def test_meta_declaring_utf16_means_utf8() -> None:
    body = html_page("<p>Привет</p>", head='<meta charset="utf-16">').encode("utf-8")
    assert decode_page(body, "text/html").charset == "utf-8"


def test_undeclared_utf8() -> None:
    body = html_page(f"<p>{RUSSIAN}</p><p>{CHINESE}</p>").encode("utf-8")
    page = decode_page(body, "text/html")
    assert page.charset == "utf-8"
    assert page.text == f"Test {RUSSIAN} {CHINESE}"


def test_truncated_utf8_is_still_utf8() -> None:
    page = decode_page("Привет, мир".encode()[:-1], "text/plain")
    assert (page.text, page.charset) == ("Привет, ми\ufffd", "utf-8")


@pytest.mark.parametrize("wrap", [False, True])
def test_undeclared_windows_1251_russian(wrap: bool) -> None:
    text = html_page(f"<p>{RUSSIAN}</p>") if wrap else RUSSIAN
    page = decode_page(text.encode("cp1251"), None)
    assert page.charset == "windows-1251"
    assert page.text == (f"Test {RUSSIAN}" if wrap else RUSSIAN)
    assert count_word(page.text, "язык") == 3
    assert count_word(page.text, "python") == 3


@pytest.mark.parametrize("wrap", [False, True])
def test_undeclared_gb2312_chinese(wrap: bool) -> None:
    text = html_page(f"<p>{CHINESE}</p>") if wrap else CHINESE
    page = decode_page(text.encode("gb2312"), "text/html" if wrap else "text/plain")
    assert page.charset == "gb18030"
    assert page.text == (f"Test {CHINESE}" if wrap else CHINESE)
    assert count_word(page.text, "python") == 3
    assert count_word(page.text, "数据") == 1


@pytest.mark.parametrize(
    "label", ["gbk", "GB2312", "x-gbk", "csgb2312", "chinese", "iso-ir-58", "gb_2312-80"]
)
def test_gb_labels_decode_as_gb18030(label: str) -> None:
    text = "总理朱镕基说：学习Python"  # 镕 is in GBK but not in GB2312
    page = decode_page(text.encode("gbk"), f"text/plain; charset={label}")
    assert (page.text, page.charset) == (text, "gb18030")


@pytest.mark.parametrize("label", ["iso-8859-1", "latin1", "us-ascii", "ascii"])
def test_latin1_and_ascii_labels_decode_as_windows_1252(label: str) -> None:
    page = decode_page(b"\x93Python\x94 caf\xe9 \x80", f"text/plain; charset={label}")
    assert (page.text, page.charset) == ("“Python” café €", "windows-1252")


@pytest.mark.parametrize("label", ["klingon", "utf-7", "base64", "rot13", ""])
def test_unknown_header_label_is_ignored(label: str) -> None:
    page = decode_page("Привет, python".encode(), f"text/plain; charset={label}")
    assert (page.text, page.charset) == ("Привет, python", "utf-8")


def test_unknown_meta_label_is_ignored() -> None:
    body = html_page(f"<p>{RUSSIAN}</p>", head='<meta charset="x-klingon">').encode("cp1251")
    assert decode_page(body, "text/html").charset == "windows-1251"


def test_undetectable_bytes_fall_back_to_windows_1252(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wordcount, "from_bytes", lambda body: SimpleNamespace(best=lambda: None))
    page = decode_page(b"caf\xe9 \x93python\x94", None)
    assert (page.text, page.charset) == ("café “python”", "windows-1252")


# --- visible text ---------------------------------------------------------------------------------------

HIDDEN_PYTHON = [
    '<script>var s = "python"; // python</script>',
    '<script type="application/ld+json">{"name": "python"}</script>',
    "<style>.python::after { content: 'python' }</style>",
    "<!-- python -->",
    '<img alt="python" title="python" src="python.png">',
    '<a href="https://python.org/python" class="python" data-lang="python">link</a>',
    '<div data-python="python" id="python" aria-label="python">x</div>',
    "<template><p>python</p></template>",
    "<noscript><p>python</p></noscript>",
    "<iframe>python</iframe>",
    "<svg><style>python</style></svg>",
]


@pytest.mark.parametrize("hidden", HIDDEN_PYTHON)
@pytest.mark.parametrize("where", ["head", "body"])
def test_invisible_text_is_not_counted(hidden: str, where: str) -> None:
    html = html_page(f"<p>start</p>{hidden}<p>end</p>", head=hidden if where == "head" else "")
    text = visible_text(html)
    assert count_word(text, "python") == 0
    assert {"Test", "start", "end"} <= set(text.split())


def test_title_is_counted() -> None:
    assert count_word(visible_text("<html><head><title>Python docs</title></head></html>"), "python") == 1


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>&#80;ython &#x70;ython &amp; P&#x79;thon</p>", "Python python & Python"),
        ("<p>python&nbsp;rocks &lt;python&gt;</p>", "python\u00a0rocks <python>"),
        ("<textarea>python</textarea><select><option>python</option></select>", "python python"),
    ],
)
def test_character_references_and_form_text(html: str, expected: str) -> None:
    assert visible_text(html) == expected


@pytest.mark.parametrize(
    "html",
    [
        "<p>python</p><p>rocks</p>",
        "<div>python</div>rocks",
        "<ul><li>python</li><li>rocks</li></ul>",
        "<table><tr><td>python</td><td>rocks</td></tr></table>",
        "python<br>rocks",
        "<h1>python</h1><a href='/'><div>rocks</div></a>",
        "<title>python</title><p>rocks</p>",
    ],
)
def test_blocks_are_not_glued(html: str) -> None:
    text = visible_text(html)
    assert text.split() == ["python", "rocks"]
    assert count_word(text, "python") == 1


@pytest.mark.parametrize(
    "html",
    [
        "py<b>thon</b>",
        "<a href='/'>py</a>thon",
        "<em><i>py</i>th</em><span>on</span>",
        "py<span></span>thon",
        "py&shy;thon",
        "py<wbr>thon",
    ],
)
def test_inline_formatting_does_not_split_words(html: str) -> None:
    assert visible_text(f"<p>{html}</p>") == "python"


def test_adjacent_inline_elements_render_as_one_word() -> None:
    text = visible_text("<p><span>python</span><span>ic</span> <b>python</b>, <i>python</i></p>")
    assert text == "pythonic python, python"
    assert count_word(text, "python") == 2


def test_empty_documents() -> None:
    assert visible_text("") == ""
    assert visible_text("<html><body>  \n </body></html>") == ""


def test_decode_and_count_a_realistic_page() -> None:
    html = html_page(
        '<nav><a href="/python">Home</a></nav><h1>Learn <b>Python</b></h1>'
        "<p>Python's standard library is large. Unlike <code>cpython</code> internals, "
        "pythonic code is readable.</p><script>track('python')</script>"
        "<p>Привет из России: Python популярен.</p><footer>&copy; Python&nbsp;Software</footer>",
        head="<meta charset='windows-1251'><style>.python{}</style>",
    )
    page = decode_page(html.encode("cp1251"), "text/html")
    assert page.charset == "windows-1251"
    assert count_word(page.text, "python") == 4
    assert count_word(page.text, "python software") == 1


# --- counting -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "python",
        "Python's",
        "(python)",
        "python-based",
        "PYTHON.",
        "«Python»",
        "#python",
        "x python y",
        "питон/python",
    ],
)
def test_whole_word_matches(text: str) -> None:
    assert count_word(text, "python") == 1


@pytest.mark.parametrize(
    "text",
    [
        "pythonic",
        "cpython",
        "python3",
        "3python",
        "python_x",
        "_python",
        "pythonы",
        "ßpython",
        "pythoné",
        "pyth on",
    ],
)
def test_partial_words_do_not_match(text: str) -> None:
    assert count_word(text, "python") == 0


@pytest.mark.parametrize(
    ("text", "word", "expected"),
    [
        ("学习python编程", "python", 1),
        ("Pythonで始める", "python", 1),
        ("パイソンpythonパイソン", "python", 1),
        ("ภาษาpythonดีมาก", "python", 1),
        ("python\u0e31", "python", 1),  # a Thai vowel sign is not a mark of a spaced script
        ("大数据分析", "数据", 1),
        ("数据数据，数据", "数据", 3),
        ("𠀀数据𠀀", "数据", 1),
        ("データ分析とデータベース", "データ", 2),
        ("python数据", "python数据", 1),
        ("cpython数据", "python数据", 0),
        ("파이썬python", "python", 0),
        ("파이썬 python", "python", 1),
    ],
)
def test_unspaced_scripts(text: str, word: str, expected: int) -> None:
    assert count_word(text, word) == expected


@pytest.mark.parametrize(
    ("text", "word", "expected"),
    [
        ("Москва, Москве, МОСКВА и москва.", "Москва", 3),
        ("भारतीय भारत का", "भारत", 1),
        ("cafe\u0301 café cafe", "café", 2),
        ("cafe\u0301 café", "cafe", 0),
        ("ÉCOLE école", "école", 2),
        ("machine learning, Machine\n\t Learning, machinelearning", "machine   learning", 2),
        ("ha ha ha", "ha ha", 1),
        ("aa aa aaa", "aa", 2),
        ("c++ c++11 (c++)", "c++", 2),
        ("", "python", 0),
    ],
)
def test_counting(text: str, word: str, expected: int) -> None:
    assert count_word(text, word) == expected


def test_word_pattern_is_cached() -> None:
    assert word_pattern("python") is word_pattern("python")


@pytest.mark.parametrize(
    ("word", "expected"),
    [("python", "python"), ("  machine \t\n learning ", "machine learning"), ("cafe\u0301", "café")],
)
def test_normalise_word(word: str, expected: str) -> None:
    assert normalise_word(word) == expected


def test_longest_allowed_word() -> None:
    assert normalise_word("a" * 100) == "a" * 100


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("", "empty"),
        (" \t\n", "empty"),
        ("a" * 101, "101 characters"),
        ("!!!", "no letter or digit"),
        ("-- ...", "no letter or digit"),
    ],
)
def test_bad_words_are_rejected(word: str, message: str) -> None:
    for function in (normalise_word, word_pattern, lambda w: count_word("text", w)):
        with pytest.raises(ValueError, match=message):
            function(word)


# --- properties -----------------------------------------------------------------------------------------

TOKENS = st.one_of(
    st.sampled_from(
        ["python", "PYTHON", "Python", "pythonic", "cpython", "python3", "python_x", "py", "thon"]
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzPYTHON0123456789_", min_size=1, max_size=8),
)
SEPARATORS = st.sampled_from([" ", ", ", ". ", "\n", " (", ") ", "-", "'", "\t", " / ", " — ", "«", "»", "!"])


@given(st.lists(st.tuples(TOKENS, SEPARATORS), max_size=30))
def test_count_equals_number_of_equal_tokens(pairs: list[tuple[str, str]]) -> None:
    text = "".join(token + separator for token, separator in pairs)
    assert count_word(text, "python") == sum(token.casefold() == "python" for token, _ in pairs)


@given(st.lists(TOKENS, max_size=30))
def test_html_blocks_count_like_tokens(tokens: list[str]) -> None:
    html = "".join(f"<p>{token}</p>" for token in tokens)
    assert count_word(visible_text(html), "python") == sum(token.casefold() == "python" for token in tokens)


@given(st.text(), st.data(), st.sampled_from("aZx"), st.booleans())
def test_gluing_the_word_to_a_letter_never_increases_the_count(
    text: str, data: st.DataObject, letter: str, letter_first: bool
) -> None:
    position = data.draw(st.integers(0, len(text)))
    glued = letter + "python" if letter_first else "python" + letter
    assert count_word(text[:position] + glued + text[position:], "python") <= count_word(text, "python")


@given(st.integers(0, 500))
def test_n_copies(n: int) -> None:
    assert count_word("python " * n, "python") == n
    assert count_word("Python\n" * n, "python") == n


@pytest.mark.parametrize(
    ("char", "variants"),
    [("p", "Pp"), ("s", "Ssſ"), ("K", "Kk\u212a"), ("i", "Iiİı"), ("σ", "Σςσ"), ("数", "数"), ("#", "#")],
)
def test_case_variants_are_what_the_regex_engine_matches(char: str, variants: str) -> None:
    assert "".join(case_variants(char)) == "".join(sorted(variants))


def test_no_character_past_the_cased_limit_has_a_case() -> None:
    assert not any(chr(code).swapcase() != chr(code) for code in range(wordcount._CASED_LIMIT, 0x110000))


WORDS = st.sampled_from(["python", "Sí", "ss", "ſs", "k8s", "aa", "ha ha", "数据", "c++", "İstanbul", "σας"])
LATIN_PIECES = ["python", "PYTHON", "ſ", "s", "S", "K", "k", "8", "a", "A", "ha", " ", "\n", "c", "++", "_"]
OTHER_PIECES = ["-", "数据", "数", "İ", "ı", "i", "stanbul", "Σ", "σ", "ς", "α", "ας", "é", "\u0301", "x"]
PIECES = st.sampled_from([*LATIN_PIECES, *OTHER_PIECES])


@given(WORDS, st.lists(PIECES, max_size=40))
def test_counting_by_case_variant_equals_one_case_insensitive_pattern(word: str, pieces: list[str]) -> None:
    text = unicodedata.normalize("NFC", "".join(pieces))
    assert count_word(text, word) == len(word_pattern(word).findall(text))
