"""Turn a fetched page into text and count a word in it.

Counting rule: the word is matched case-insensitively (simple Unicode case folding) and without overlaps
in the page's visible text (HTML) or whole text (other text types); both are compared in Unicode NFC form,
and a space inside a phrase matches any run of whitespace. Only whole words count: the character just
before and just after a match must not be a letter, digit, underscore or combining mark of a script
written with spaces, so "python" counts in "Python's", "(python)", "python-based" and "PYTHON." but not in
"pythonic", "cpython", "python3" or "python_x". Scripts written without spaces (CJK ideographs, Hiragana,
Katakana, Thai, Lao, Khmer, Myanmar) always act as a boundary, and a word that starts or ends in one of
them needs no boundary on that side: "学习python编程" contains "python" once and "大数据分析" contains
"数据" once.
"""

import codecs
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from charset_normalizer import from_bytes
from selectolax.lexbor import LexborHTMLParser

MAX_WORD_LENGTH = 100

Kind = Literal["html", "text"]


class UnsupportedContent(ValueError):
    """The body is not text we can count in (binary, image, ...)."""


@dataclass(frozen=True)
class PageText:
    """A decoded page.

    ``charset`` is the codec the body was decoded with, always a name ``codecs.lookup`` accepts: Python's
    canonical codec name ("utf-8", "utf-16-le", "gb18030", "koi8-r", "cp932"), except that the Windows code
    pages 1250-1258 read "windows-1251" and the ISO 8859 family "iso-8859-5".
    """

    text: str
    charset: str
    kind: Kind


# --- content kind -------------------------------------------------------------------------------------------

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/javascript", "application/ecmascript"}
)
_UNDECLARED_TYPES = frozenset({"", "unknown/unknown", "application/unknown", "*/*"})
_CHARSET_PARAM = re.compile(r";\s*charset\s*=\s*[\"']?([^\"';\s]+)", re.IGNORECASE)
_HTML_MARKER = re.compile(r"<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)
_SNIFF_BYTES = 1024


def _parse_content_type(content_type: str | None) -> tuple[str, str | None]:
    """Split a Content-Type header into its lower-cased MIME type and its charset label (if any)."""
    if content_type is None:
        return "", None
    charset = _CHARSET_PARAM.search(content_type)
    return content_type.split(";", 1)[0].strip().lower(), charset.group(1) if charset else None


def _declared_kind(mime: str) -> Kind | None:
    """The kind a MIME type declares, None when it declares nothing; raises for binary types."""
    if mime in _UNDECLARED_TYPES or "/" not in mime:
        return None
    if mime in _HTML_TYPES:
        return "html"
    top, _, sub = mime.partition("/")
    if top == "text" or mime in _TEXT_TYPES or (top == "application" and sub.endswith(("+xml", "+json"))):
        return "text"
    raise UnsupportedContent(f"binary content ({mime}): only text and HTML pages can be counted")


def _sniff_kind(head: str) -> Kind:
    """HTML when an html/head/body tag or an HTML doctype appears in the first 1024 bytes, else text."""
    return "html" if _HTML_MARKER.search(head) else "text"


# --- charset ------------------------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# WHATWG labels Python's codec registry does not know.
_LABEL_ALIASES = {
    "x-gbk": "gbk",
    "csgb2312": "gb2312",
    "gb_2312-80": "gb2312",
    "gb_2312": "gb2312",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "windows-874": "cp874",
    "dos-874": "cp874",
    "windows-949": "cp949",
    "cseuckr": "cp949",
    "x-x-big5": "big5",
    "cn-big5": "big5",
    "x-euc-jp": "euc_jp",
    "koi": "koi8-r",
    "koi8": "koi8-r",
    "koi8-ru": "koi8-u",
    "iso-8859-8-i": "iso8859-8",
    "mac": "mac-roman",
    "x-mac-roman": "mac-roman",
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-ukrainian": "mac-cyrillic",
    "unicode-1-1-utf-8": "utf-8",
    "unicode11utf8": "utf-8",
    "unicode": "utf-16-le",
    "ucs-2": "utf-16-le",
    "csunicode": "utf-16-le",
    **{f"x-cp{page}": f"cp{page}" for page in range(1250, 1259)},
}
# Codecs that browsers replace with their superset.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
    "utf-16": "utf-16-le",
}
# The encodings of the WHATWG Encoding Standard, as Python codec names; any other label is ignored.
_WEB_CODECS = frozenset(
    {"utf-8", "utf-16-le", "utf-16-be", "gb18030", "big5hkscs", "euc_jp", "iso2022_jp", "cp932", "cp949"}
    | {"cp866", "koi8-r", "koi8-u", "mac-roman", "mac-cyrillic", "cp874"}
    | {f"cp{page}" for page in range(1250, 1259)}
    | {f"iso8859-{part}" for part in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)}
)
_WIDE_CODECS = frozenset({"utf-16-le", "utf-16-be"})
_META_CHARSET = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([a-z0-9_:.+-]+)", re.IGNORECASE)
_META_BYTES = 4096
_FALLBACK_CODEC = "cp1252"


def _superset(codec: str) -> str:
    return _SUPERSETS.get(codec, codec)


@lru_cache(maxsize=256)
def _web_codec(label: str) -> str | None:
    """The Python codec a browser would decode a charset label with, or None for an unknown label."""
    label = label.strip().lower()
    try:
        codec = _superset(codecs.lookup(_LABEL_ALIASES.get(label, label)).name)
    except LookupError:
        return None
    return codec if codec in _WEB_CODECS else None


def _split_bom(body: bytes) -> tuple[str | None, bytes]:
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec, body[len(bom) :]
    return None, body


def _meta_codec(payload: bytes) -> str | None:
    """The charset of the first ``<meta>`` declaring one within the first 4096 bytes."""
    match = _META_CHARSET.search(payload, 0, _META_BYTES)
    codec = _web_codec(match.group(1).decode("ascii")) if match else None
    # A meta tag readable as ASCII cannot be UTF-16; browsers take it as UTF-8.
    return "utf-8" if codec in _WIDE_CODECS else codec


def _is_utf8(payload: bytes) -> bool:
    """Strict UTF-8, tolerating a multi-byte sequence cut off by a truncated body."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(payload, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _detected_codec(payload: bytes) -> str:
    """Guess the codec of undeclared non-UTF-8 bytes; windows-1252 when charset_normalizer has no idea."""
    match = from_bytes(payload).best()
    return _superset(codecs.lookup(match.encoding).name) if match else _FALLBACK_CODEC


def _display_name(codec: str) -> str:
    if codec.startswith("cp125"):
        return f"windows-{codec[2:]}"
    return codec.replace("iso8859-", "iso-8859-")


def decode_page(body: bytes, content_type: str | None) -> PageText:
    """Decode a response body to countable text, detecting its kind and charset as a browser would.

    Charset precedence: byte-order mark, Content-Type ``charset``, ``<meta>`` declaration (HTML only),
    valid UTF-8, charset_normalizer's guess, windows-1252. Raises UnsupportedContent for binary bodies.
    """
    mime, label = _parse_content_type(content_type)
    kind = _declared_kind(mime)
    codec, payload = _split_bom(body)
    if not codec and label:
        codec = _web_codec(label)
    if codec not in _WIDE_CODECS and b"\x00" in payload[:_SNIFF_BYTES]:
        declared = f"declared {mime} but the body is binary" if kind else "binary content (undeclared type)"
        raise UnsupportedContent(f"{declared}: NUL bytes in its first {_SNIFF_BYTES} bytes")
    kind = kind or _sniff_kind(payload[:_SNIFF_BYTES].decode(codec or "latin-1", "replace"))
    if not codec and kind == "html":
        codec = _meta_codec(payload)
    if not codec:
        try:  # most undeclared pages are UTF-8: decoded once, checked by the same pass
            text = payload.decode("utf-8")
            return PageText(visible_text(text) if kind == "html" else text, "utf-8", kind)
        except UnicodeDecodeError:
            codec = "utf-8" if _is_utf8(payload) else _detected_codec(payload)
    text = payload.decode(codec, "replace")
    return PageText(visible_text(text) if kind == "html" else text, _display_name(codec), kind)


# --- visible text -------------------------------------------------------------------------------------------

# Elements whose content a browser running scripts never renders; <wbr> is dropped to glue its neighbours.
_HIDDEN_TAGS = ["script", "style", "template", "noscript", "iframe", "noembed", "noframes", "wbr"]
# Inline formatting elements: unwrapped so that "py<b>thon</b>" reads "python", as it renders.
_INLINE_TAGS = frozenset({
    "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em", "font",
    "i", "ins", "kbd", "label", "mark", "nobr", "s", "samp", "small", "span", "strike", "strong", "sub",
    "sup", "time", "tt", "u", "var",
})  # fmt: skip
_SOFT_HYPHEN = "\u00ad"


def visible_text(html: str) -> str:
    """The text a reader sees: the title and body text, without scripts, styles, comments or attributes.

    Text of separate elements is joined with a space, except across inline formatting elements, which
    browsers render without a break.
    """
    tree = LexborHTMLParser(html, scripting=True)
    tree.strip_tags(_HIDDEN_TAGS, recursive=True)
    root = tree.root  # always present for a parsed document; None only in selectolax's type hints
    # Collected first: mutating the tree during traverse() is unsafe. One pass is faster than css().
    inline = [node for node in root.traverse() if node.tag in _INLINE_TAGS] if root else []
    for node in inline:
        node.unwrap(delete_empty=True)
    tree.merge_text_nodes()
    return tree.text(separator=" ", strip=True, skip_empty=True).replace(_SOFT_HYPHEN, "")


# --- counting -----------------------------------------------------------------------------------------------

_UNSPACED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x3005, 0x3007),  # ideographic iteration mark, closing mark, number zero
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA9E0, 0xA9FF),  # Myanmar extended-B
    (0xAA60, 0xAA7F),  # Myanmar extended-A
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # halfwidth Katakana
    (0x1B000, 0x1B16F),  # Kana supplement and extensions
    (0x20000, 0x3FFFF),  # CJK extensions B and later, compatibility supplement
)


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges)


_UNSPACED_CLASS = _char_class(_UNSPACED_RANGES)
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED_CLASS}]")


def _spaced_mark_ranges() -> list[tuple[int, int]]:
    """Ranges of Basic Multilingual Plane combining marks (category M) outside the unspaced scripts.

    Computed once at import (~15 ms); the plane limit keeps the regex class a fast bitmap.
    """
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x10000):
        char = chr(code)
        if unicodedata.category(char)[0] != "M" or _UNSPACED_CHAR.match(char):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return ranges


# A character that continues a word of a spaced script: letter, digit, underscore or combining mark.
# Case-sensitive (?-i:) because case does not matter here and case-insensitive classes are slower.
_SPACED_WORD_CHAR = f"(?-i:[^\\W{_UNSPACED_CLASS}]|[{_char_class(_spaced_mark_ranges())}])"


def normalise_word(word: str) -> str:
    """NFC-normalise, strip and collapse inner whitespace; raise ValueError for an unusable word."""
    word = " ".join(unicodedata.normalize("NFC", word).split())
    if not word:
        raise ValueError("the word is empty")
    if len(word) > MAX_WORD_LENGTH:
        raise ValueError(f"the word is {len(word)} characters long; at most {MAX_WORD_LENGTH} are allowed")
    if not any(char.isalnum() for char in word):
        raise ValueError(f"the word {word!r} has no letter or digit")
    return word


@lru_cache(maxsize=1024)
def word_pattern(word: str) -> re.Pattern[str]:
    """The compiled whole-word, case-insensitive pattern for ``word`` (see the module docstring)."""
    return re.compile(_pattern_source(normalise_word(word)), re.IGNORECASE)


def _pattern_source(word: str) -> str:
    """The whole-word pattern of a normalised ``word``; it starts with ``re.escape(word[0])``."""
    first, *rest = word.split(" ")
    pattern = re.escape(first)
    if not _UNSPACED_CHAR.match(word[0]):
        # Tested behind the first chunk rather than before it, so only at candidate matches: about 5x faster.
        pattern += f"(?<!{_SPACED_WORD_CHAR}.{{{len(first)}}})"
    pattern += "".join(r"\s+" + re.escape(part) for part in rest)
    if not _UNSPACED_CHAR.match(word[-1]):
        pattern += f"(?!{_SPACED_WORD_CHAR})"
    return pattern


# Every character with a case mapping lies below U+1E944 (Adlam); a character above matches only itself.
_CASED_LIMIT = 0x1E944


@lru_cache(maxsize=1)
def _cased_plane() -> str:
    return "".join(map(chr, range(_CASED_LIMIT)))


@lru_cache(maxsize=256)
def case_variants(char: str) -> tuple[str, ...]:
    """Every character that ``char`` matches case-insensitively in a regex ('s': 'S', 's', 'ſ')."""
    found = set(re.compile(re.escape(char), re.IGNORECASE).findall(_cased_plane()))
    return tuple(sorted(found | {char}))


@lru_cache(maxsize=1024)
def _counting_patterns(word: str) -> tuple[re.Pattern[str], ...]:
    """Patterns whose match counts add up to the whole-word count of ``word``, fastest first.

    A pattern that starts with a case-insensitive letter makes the regex engine try every position of
    the text (~20 ns a character); one that starts with a literal lets it skip ahead to that
    character (~6x faster). So when no two matches can overlap (no later character of the word is a
    case variant of its first), the word is counted once per case variant of its first character,
    each pattern starting with that character as a literal.
    """
    word = normalise_word(word)
    variants = case_variants(word[0])
    later = set(word[1:])
    if any(re.fullmatch(re.escape(char), variant, re.IGNORECASE) for char in later for variant in variants):
        return (word_pattern(word),)
    tail = _pattern_source(word)[len(re.escape(word[0])) :]
    return tuple(re.compile(f"{re.escape(variant)}(?i:{tail})") for variant in variants)


def count_word(text: str, word: str) -> int:
    """Number of whole-word occurrences of ``word`` in ``text``."""
    text = unicodedata.normalize("NFC", text)
    return sum(len(pattern.findall(text)) for pattern in _counting_patterns(word))
