"""Channels' text rules: weighted length (ASCII, CJK, emoji sequences, URLs, the 280/281 boundary),
hashtags, and hashtag insertion's properties (never past 280, never breaking a hashtag or URL, never
a duplicate, the original text kept where the position says)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rules.channels import (
    HashtagPosition,
    HashtagResult,
    HashtagRule,
    apply_hashtags,
    fits,
    hashtags_of,
    urls_of,
    weighted_length,
)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("", 0),
        ("hello world", 11),
        ("日本語", 6),
        ("한국어", 6),
        ("é", 1),
        ("e\u0301", 1),  # NFC first: one é
        ("Ω≠π", 1 + 2 + 1),  # U+2260 is past 4351 and outside the light punctuation ranges
        ("a\u2014b\u2026c", 6),  # the em dash (8212) weighs 1, the ellipsis (8230) 2
        ("😷", 2),
        ("👍🏽", 2),  # skin tone
        ("👨‍👩‍👧‍👦", 2),  # ZWJ family
        ("👩🏽‍💻", 2),  # skin tone and ZWJ
        ("🫱🏻‍🫲🏿", 2),  # Emoji 14 handshake with two skin tones
        ("❤️‍🔥", 2),  # VS16 then ZWJ
        ("🧑‍🧑‍🧒", 2),  # Emoji 15.1
        ("🇩🇪", 2),
        ("🇩🇪🇫🇷", 4),
        ("1️⃣ #️⃣", 5),
        ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", 2),  # a tag sequence flag
        ("hi 😷!", 6),
        ("©", 2),  # an emoji (Extended_Pictographic), though Latin-1
    ],
)
def test_weighted_length_of_characters(text: str, length: int) -> None:
    assert weighted_length(text) == length


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("https://example.com/a/very/long/path/that/goes/on/and/on?x=1&y=2", 1),
        ("http://a.co", 1),
        ("example.com", 1),
        ("switchyard.io/pricing?plan=2", 1),
        ("WWW.Example.ORG", 1),
        ("see https://example.com. now", 1),
        ("me@example.com", 0),  # an e-mail address is not a link
        ("foo.notatld", 0),
        ("x.community", 0),
        ("version 3.11 and end.Next", 0),
        ("http://twitter.com/これは日本語です。example.com中国語", 2),
    ],
)
def test_urls_are_found(text: str, urls: int) -> None:
    assert len(urls_of(text)) == urls


def test_urls_weigh_23_whatever_their_length() -> None:
    assert weighted_length("https://example.com/" + "x" * 500) == 23
    assert weighted_length("see https://example.com. now") == 4 + 23 + 5
    assert urls_of("(see https://en.wikipedia.org/wiki/Foo_(bar)) ok") == [
        "https://en.wikipedia.org/wiki/Foo_(bar)"
    ]
    assert urls_of("https://例え.jp/パス") == ["https://例え.jp/"]


def test_boundary_280_281() -> None:
    assert fits("a" * 280) and not fits("a" * 281)
    assert fits("日" * 140) and not fits("日" * 141)
    assert fits("a" * 279 + "é") and not fits("a" * 279 + "日")
    assert fits("😷" * 140) and not fits("😷" * 140 + "a")
    assert fits("a" * 256 + " https://example.com/" + "x" * 300)  # 256 + 1 + 23 = 280
    assert not fits("a" * 257 + " https://example.com")
    assert fits("")


def test_hashtags_of() -> None:
    text = "#one two#no &#no #123 #_1 #a1 #日本語 ＃全角 https://x.com/#frag #ok#bad #end. #x://y (#paren)"
    assert hashtags_of(text) == ["one", "a1", "日本語", "全角", "end", "paren"]
    assert hashtags_of("#Hello, #hello!") == ["Hello", "hello"]
    assert hashtags_of("#️⃣ is a keycap") == []
    assert hashtags_of("#हिन्दी") == ["हिन्दी"]  # vowel signs are marks: part of the tag


def test_hashtag_rule_validation() -> None:
    rule = HashtagRule(tags="#Python, ai python\nAI news")
    assert rule.tags == ("Python", "ai", "news")  # '#' dropped, duplicates (any case) once
    for bad in (["two words"], ["#123"], ["semi;colon"], []):
        with pytest.raises(ValidationError):
            HashtagRule(tags=bad)
    with pytest.raises(ValidationError):
        HashtagRule(tags=["a"], count=0)
    with pytest.raises(ValidationError):
        HashtagRule(tags=["a"], position="middle")


@pytest.mark.parametrize(
    ("text", "position", "result", "added"),
    [
        ("I like python and AI", "end", "I like python and AI #Python #ai", ("Python", "ai")),
        ("I like python and AI", "start", "#Python #ai I like python and AI", ("Python", "ai")),
        ("I like python and AI", "inline", "I like #python and #AI", ("Python", "ai")),
        ("I like python #AI", "end", "I like python #AI #Python #news", ("Python", "news")),
        ("news at https://python.org/python", "inline", "#news at https://python.org/python", ("news",)),
        ("pythonic AI-driven", "inline", "pythonic #AI-driven", ("ai",)),
        ("mail python@example.com or @python", "inline", "mail python@example.com or @python", ()),
        ("line\n", "end", "line\n#Python #ai", ("Python", "ai")),
        ("", "start", "#Python #ai", ("Python", "ai")),
    ],
)
def test_apply_hashtags(text: str, position: str, result: str, added: tuple[str, ...]) -> None:
    rule = HashtagRule(tags=["Python", "ai", "news"], position=position, count=2)
    assert apply_hashtags(text, rule) == HashtagResult(result, added)


def test_apply_hashtags_adds_what_fits_whole_tags_only() -> None:
    rule = HashtagRule(tags=["toolongtag", "ok", "x"], count=3)
    result = apply_hashtags("a" * 270, rule)
    assert result.added == ("ok", "x") and result.text == "a" * 270 + " #ok #x"
    assert apply_hashtags("a" * 280, rule).added == ()
    over = "a" * 300
    assert apply_hashtags(over, rule).text == over  # already too long: left alone


def test_apply_hashtags_random_order_is_seeded() -> None:
    rule = HashtagRule(tags="a b c d e f", count=3, shuffle=True, seed=7)
    first = apply_hashtags("x", rule)
    assert first == apply_hashtags("x", rule)
    assert first == apply_hashtags("x", rule, rng=random.Random(7))
    assert len(first.added) == 3 and set(first.added) <= set("abcdef")
    orders = {apply_hashtags("x", rule, rng=random.Random(seed)).added for seed in range(20)}
    assert len(orders) > 1


WORDS = st.sampled_from(
    [
        "python",
        "AI",
        "news",
        "日本語",
        "😷",
        "👩🏽‍💻",
        "#Python",
        "#ai",
        "#日本",
        "&",
        "&#ai",
        "a.b",
        "—",
        "https://example.com/p?q=1",
        "example.com",
        "ünïcode",
    ]
)
PIECE = st.one_of(
    WORDS, st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6)
)
TEXT = st.lists(PIECE, max_size=60).map(" ".join)
TAGS = st.lists(
    st.sampled_from(["Python", "ai", "AI", "news", "日本", "x_1", "pythonic", "ünïcode", "b"]),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(TEXT, TAGS, st.sampled_from(list(HashtagPosition)), st.integers(1, 6), st.integers(0, 3))
def test_apply_hashtags_properties(
    text: str, tags: list[str], position: HashtagPosition, count: int, seed: int
) -> None:
    rule = HashtagRule(tags=tags, position=position, count=count, shuffle=seed > 0, seed=seed)
    result = apply_hashtags(text, rule)
    if not result.added:
        assert result.text == text
        return
    assert fits(result.text) and len(result.added) <= count
    before = [tag.casefold() for tag in hashtags_of(text)]
    after = [tag.casefold() for tag in hashtags_of(result.text)]
    added = [tag.casefold() for tag in result.added]
    assert len(set(added)) == len(added) and not set(added) & set(before)  # never a duplicate
    assert sorted(after) == sorted(before + added)  # every hashtag kept whole, the new ones whole
    assert urls_of(result.text) == urls_of(text)  # every URL kept whole
    if position == HashtagPosition.END:
        assert result.text.startswith(text)
    elif position == HashtagPosition.START:
        assert result.text.endswith(text)
    else:  # inline: only '#' signs inserted
        assert len(result.text) == len(text) + len(added)
        assert result.text.replace("#", "") == text.replace("#", "")


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=200))
def test_cjk_weighs_two(text: str) -> None:
    assert weighted_length(text) == 2 * len(text)


DOMAIN = st.from_regex(r"[a-z][a-z0-9]{0,20}\.(com|org|io|de|jp)", fullmatch=True)
PATH = st.from_regex(r"(/[A-Za-z0-9_\-]{0,30}){0,4}", fullmatch=True)


@given(st.sampled_from(["https://", "http://", ""]), DOMAIN, PATH)
def test_a_url_weighs_23(scheme: str, domain: str, path: str) -> None:
    assert weighted_length(f"{scheme}{domain}{path}") == 23
    assert weighted_length(f"go {scheme}{domain}{path} now") == 3 + 23 + 4


PLAIN = st.text(alphabet=st.characters(categories=["L", "Nd", "Zs"]), max_size=150)


@given(PLAIN, PLAIN)
def test_weighted_length_adds_up_over_plain_text(first: str, second: str) -> None:
    assert weighted_length(f"{first} {second}") == weighted_length(first) + 1 + weighted_length(second)
