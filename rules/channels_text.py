"""The text rules of channels: a post's weighted length, its hashtags and URLs, and hashtag insertion.

The weighted length follows twitter-text's configuration v3: the text is NFC-normalised; a code point
in 0–4351, 8192–8205, 8208–8223 or 8242–8247 (Latin-1 and some general punctuation) weighs 1, any
other weighs 2; a URL weighs 23 whatever its length; an emoji sequence (a pictograph with its
variation selector, skin tone and tags, pictographs joined by ZWJ, a flag, a keycap) weighs 2. A
post may weigh at most 280.

These rules are our own, not the PyPI package ``twitter-text-parser`` 3.0.0. That package agrees on
ASCII, CJK, URLs with and without a scheme and the 280/281 boundary, but was left out: its emoji table
is Unicode 12.0 (2019), so newer ZWJ sequences count as their parts (🫱🏻‍🫲🏿 weighs 9 there, ❤️‍🔥 5,
🧑‍🧑‍🧒 8, instead of 2), and it loads that table at import through ``pkg_resources``, an undeclared
dependency that setuptools deprecates. Emoji are recognised here by the ``regex`` package's
``Extended_Pictographic`` and ``Emoji_Modifier`` properties, which follow the current Unicode release
(so a bare © or ® is an emoji and weighs 2, as in twitter-text). URLs: ``http(s)://`` and a host with
a dot, or a bare ASCII domain whose top-level domain is one of ``COMMON_TLDS`` (twitter-text knows
every IANA TLD: a bare domain with a rarer one counts here as plain text), each with an optional port
and path; trailing punctuation and an unbalanced ``)`` are not part of a URL; an e-mail address is
not one. ``\\r\\n`` counts as two characters.

A hashtag is ``#`` (or the full-width ``＃``) followed by letters, marks, digits and ``_`` (CJK
included; variation selectors and the keycap mark are not part of it) with at least one letter
(twitter-text's rule, a little stricter than "not all digits": ``#_1`` is no hashtag), not preceded
by a letter, digit, ``_`` or ``&``, not followed by ``#`` or ``://``, and not inside a URL.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23
EMOJI_WEIGHT = 2
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))

_TLD_WORDS = (
    "com net org edu gov mil int info biz name pro mobi app dev io ai co me tv cc ly gl to fm am sh gg "
    "xyz online site tech store blog news shop page link club top live cloud art design email space "
    "us uk de fr ru cn jp kr in br it es nl eu ch at be se no dk fi pl cz ca au nz ie pt gr tr ua by "
    "kz il ae sa hk tw sg my id th vn ph mx ar cl pe za ng ke eg su"
)
COMMON_TLDS = frozenset(_TLD_WORDS.split())
_TLD = "|".join(sorted(COMMON_TLDS, key=len, reverse=True))
_PATH_CHAR = r"[A-Za-z0-9\u00C0-\u024F\u0400-\u04FF\-._~%!$&'()*+,;=:@/?#\[\]|]"
_URL = regex.compile(
    r"(?:https?://(?:[\w-]+\.)+[\w-]+"  # with a scheme: any host with a dot (IDN included)
    r"|(?<![A-Za-z0-9@.\-_/#$&])(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+(?:" + _TLD + r")"
    r"(?![A-Za-z0-9-]))"  # bare: an ASCII domain with a common TLD
    r"(?::[0-9]{1,5})?(?:[/?#]" + _PATH_CHAR + r"*)?",
    regex.IGNORECASE,
)
_TRAILING = ".,:;!?'\"*]"
_EMOJI_ELEMENT = (
    r"(?:\p{Regional_Indicator}{2}|[#*0-9]\uFE0F?\u20E3"
    r"|\p{Extended_Pictographic}\uFE0F?\p{Emoji_Modifier}?[\U000E0020-\U000E007E]*\U000E007F?)"
)
_EMOJI = regex.compile(rf"{_EMOJI_ELEMENT}(?:\u200D{_EMOJI_ELEMENT})*")
_TAG_CHAR = r"(?:(?![\uFE00-\uFE0F\u20E3])[\p{L}\p{M}\p{Nd}_\u200C\u200D])"  # not a variation selector
_TAG_BODY = rf"{_TAG_CHAR}*\p{{L}}{_TAG_CHAR}*"
_HASHTAG = regex.compile(rf"(?<!{_TAG_CHAR}|&)[#＃]({_TAG_BODY})(?!{_TAG_CHAR}|[#＃]|://)")
_BARE_TAG = regex.compile(_TAG_BODY)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def url_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) indices of the URLs in ``text`` (already NFC-normalised)."""
    spans = []
    for match in _URL.finditer(text):
        start, end = match.span()
        while end > start and (
            text[end - 1] in _TRAILING
            or (text[end - 1] == ")" and text.count("(", start, end) < text.count(")", start, end))
        ):
            end -= 1
        spans.append((start, end))
    return spans


def urls_of(text: str) -> list[str]:
    """The URLs in ``text``, in order, as the platform links them (each weighs 23)."""
    text = _nfc(text)
    return [text[start:end] for start, end in url_spans(text)]


def _hashtag_matches(text: str) -> Iterator[regex.Match[str]]:
    urls = url_spans(text)
    for match in _HASHTAG.finditer(text):
        if not any(start < match.end() and match.start() < end for start, end in urls):
            yield match


def hashtags_of(text: str) -> list[str]:
    """The hashtags of ``text`` without their ``#``, in order and as written (repeats kept)."""
    return [match.group(1) for match in _hashtag_matches(_nfc(text))]


def _char_weight(char: str) -> int:
    point = ord(char)
    if point <= 4351:
        return 1
    return 1 if any(low <= point <= high for low, high in _LIGHT_RANGES) else 2


def _plain_weight(text: str) -> int:
    return sum(_char_weight(char) for char in text)


def weighted_length(text: str) -> int:
    """The platform's weighted length of ``text`` (see the module docstring)."""
    text = _nfc(text)
    urls = url_spans(text)
    spans = [(start, end, URL_WEIGHT) for start, end in urls]
    for match in _EMOJI.finditer(text):
        if not any(start < match.end() and match.start() < end for start, end in urls):
            spans.append((match.start(), match.end(), EMOJI_WEIGHT))
    total, index = 0, 0
    for start, end, weight in sorted(spans):
        total += _plain_weight(text[index:start]) + weight
        index = end
    return total + _plain_weight(text[index:])


def fits(text: str) -> bool:
    """Whether ``text`` weighs at most 280 (an empty text fits: refusing it is the caller's rule)."""
    return weighted_length(text) <= MAX_WEIGHTED_LENGTH


class HashtagPosition(StrEnum):
    START = "start"  # "#a #b text"
    END = "end"  # "text #a #b"
    INLINE = "inline"  # the first bare occurrence of each tag's word gets a "#": "I like #Python"


class HashtagRule(BaseModel):
    """Which hashtags a channel adds to its outgoing posts, where, and how many."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tags: tuple[str, ...] = Field(min_length=1, description="without '#', in order of preference")
    position: HashtagPosition = HashtagPosition.END
    count: int = Field(1, ge=1, le=50, description="add at most this many")
    shuffle: bool = Field(False, description="pick the tags in random order instead of the given one")
    seed: int | None = Field(None, description="seed of the random order (None: a different one each time)")

    @field_validator("tags", mode="before")
    @classmethod
    def _clean_tags(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.replace("\n", ",").replace(" ", ",").split(",")
        if not isinstance(value, list | tuple):
            return value
        tags: dict[str, str] = {}
        for raw in value:
            tag = _nfc(str(raw).strip()).removeprefix("#").removeprefix("＃")
            if not tag:
                continue
            if not _BARE_TAG.fullmatch(tag):
                raise ValueError(f"not a hashtag (letters, digits and '_', at least one letter): {raw!r}")
            tags.setdefault(tag.casefold(), tag)
        return tuple(tags.values())


@dataclass(frozen=True)
class HashtagResult:
    text: str
    added: tuple[str, ...]  # the tags added, without '#', in the order they were added


def _inline(text: str, tag: str) -> str | None:
    """``text`` with a '#' before the first bare occurrence of ``tag``'s word, or None if there is none."""
    urls = url_spans(text)
    word = regex.compile(rf"(?<!{_TAG_CHAR}|[&#＃@]){regex.escape(tag)}(?!{_TAG_CHAR}|@)", regex.IGNORECASE)
    for match in word.finditer(text):
        if not any(start < match.end() and match.start() < end for start, end in urls):
            return f"{text[: match.start()]}#{text[match.start() :]}"
    return None


def _with_tags(text: str, tags: list[str], position: HashtagPosition) -> str | None:
    """The original ``text`` with ``tags`` added at ``position`` (inline: one after another)."""
    if position == HashtagPosition.INLINE:
        for tag in tags:
            tagged = _inline(text, tag)
            if tagged is None:
                return None
            text = tagged
        return text
    block = " ".join(f"#{tag}" for tag in tags)
    if position == HashtagPosition.END:
        return f"{text}{block}" if not text or text[-1].isspace() else f"{text} {block}"
    return f"{block}{text}" if not text or text[0].isspace() else f"{block} {text}"


def _keeps_entities(before: str, after: str, tag: str) -> bool:
    """``after`` keeps every URL and hashtag of ``before`` and adds ``#tag`` as a whole hashtag."""
    old_tags, new_tags = hashtags_of(before), hashtags_of(after)
    return (
        urls_of(after) == urls_of(before)
        and len(new_tags) == len(old_tags) + 1
        and sorted(t.casefold() for t in [*old_tags, tag]) == sorted(t.casefold() for t in new_tags)
    )


def apply_hashtags(text: str, rule: HashtagRule, rng: random.Random | None = None) -> HashtagResult:
    """``text`` with up to ``rule.count`` of the rule's tags added, never one already in the text
    (case-insensitive), never breaking a hashtag or URL, never past 280 weighted.

    Tags are tried in the rule's order (or a random one: ``rng``, else ``random.Random(rule.seed)``);
    a tag that does not fit, or (inline) whose word is not in the text, is passed over for the next.
    """
    present = {tag.casefold() for tag in hashtags_of(text)}
    tags = [tag for tag in rule.tags if tag.casefold() not in present]
    if rule.shuffle:
        (rng or random.Random(rule.seed)).shuffle(tags)
    added: list[str] = []
    result = text
    for tag in tags:
        if len(added) == rule.count:
            break
        candidate = _with_tags(text, [*added, tag], rule.position)
        if candidate is not None and fits(candidate) and _keeps_entities(result, candidate, tag):
            result = candidate
            added.append(tag)
    return HashtagResult(result, tuple(added))
