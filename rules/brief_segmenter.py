"""jieba's segmentation, ~10× faster: ``rjieba`` (a binding of jieba-rs) where it cuts as jieba does.

rjieba ships jieba's dictionary and HMM model and cuts the same tokens, except on text jieba-rs
handles otherwise (measured on rjieba 0.2.2 against jieba 0.42.1, HMM on): CJK characters outside
jieba's range U+4E00–U+9FD5 (extension A/B, U+9FD6–U+9FFF, compatibility ideographs), which jieba
yields one by one and jieba-rs joins, and ASCII runs with ``+#&._%-`` inside ("Wi-Fi", "x_y",
"v1.2.3", "12.75a"), which jieba splits at the symbols and jieba-rs keeps whole. A text with either
(:func:`cut_alike` is False) is cut by jieba itself, loaded only when such a text comes.

A brief's keywords are added to both with the frequency and the dictionary total jieba's
``add_word`` gives (jieba-rs suggests frequencies in another way, and keeps another total when a
word is already in the dictionary), so the routes through every text are the same.

Without rjieba (not installed, or failing to import) :func:`fast_tokenizer` gives None and the
caller uses jieba.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import uuid
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import jieba

FAST_PACKAGE = "rjieba"


# Characters jieba-rs treats as Chinese and jieba does not; jieba's own range is U+4E00–U+9FD5.
OTHER_HAN = "\u2e80-\u2fdf\u3400-\u4dbf\u9fd6-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
# A run jieba's segmenter keeps in one block: letters, digits and these symbols.
ASCII_RUN_RE = re.compile(r"[A-Za-z0-9+#&._%\-]*[+#&._%\-][A-Za-z0-9+#&._%\-]*")
OTHER_HAN_RE = re.compile(f"[{OTHER_HAN}]")
# What jieba's HMM keeps whole in such a run: ``finalseg.re_skip``.
SKIP_RE = re.compile(r"[a-zA-Z0-9]+(?:\.\d+)?%?")
ALNUM_RE = re.compile(r"[A-Za-z0-9]")


class Tokenizer(Protocol):
    """What counting needs of a segmenter: jieba.Tokenizer's ``cut`` and ``lcut``."""

    def cut(self, sentence: str, HMM: bool = True) -> Iterable[str]: ...

    def lcut(self, sentence: str, HMM: bool = True) -> list[str]: ...


def cut_alike(text: str) -> bool:
    """Whether rjieba cuts ``text`` as jieba does: no CJK outside jieba's range, no ASCII run with a
    symbol inside that jieba's HMM would split (a lone "3.5", "30%" or "-" is cut alike)."""
    if OTHER_HAN_RE.search(text):
        return False
    for run in ASCII_RUN_RE.finditer(text):
        word = run.group()
        if ALNUM_RE.search(word) and not SKIP_RE.fullmatch(word):
            return False
    return True


@cache
def fast_package() -> ModuleType | None:
    """rjieba, or None if it is not installed or fails to import (jieba is used then)."""
    try:
        return importlib.import_module(FAST_PACKAGE)
    except Exception:  # ImportError, or a broken binary wheel: either way, fall back to jieba
        return None


def dictionary_file() -> Path:
    return Path(jieba.__file__).with_name("dict.txt")


@cache
def dictionary_text() -> str:
    """jieba's dictionary, one "word freq tag" a line, with a newline first so every word follows one."""
    return "\n" + dictionary_file().read_text(encoding="utf-8")


def dictionary_total(cache_dir: Path) -> int:
    """The sum of the dictionary's frequencies, as jieba counts it (duplicates included); cached in a file."""
    source = dictionary_file()
    stat = source.stat()
    key = hashlib.sha1(f"{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:10]
    path = cache_dir / f"dict-total-{key}.txt"
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        pass
    total = sum(map(int, re.findall(r" (\d+)", dictionary_text())))
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    partial.write_text(str(total))
    os.replace(partial, path)
    return total


class JiebaFrequencies:
    """jieba's ``FREQ.get(word, 1)`` and ``total`` for the default dictionary plus added words, without
    loading jieba: a prefix of a word counts 0, as in jieba."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.added: dict[str, int] = {}

    def in_dictionary(self, word: str) -> int | None:
        text = dictionary_text()
        start = text.find(f"\n{word} ")
        if start < 0:
            return None
        start += len(word) + 2
        return int(text[start : text.index(" ", start)])

    def get(self, word: str) -> int:
        if word in self.added:
            return self.added[word]
        found = self.in_dictionary(word)
        if found is not None:
            return found
        if dictionary_text().find(f"\n{word}") >= 0 or any(a.startswith(word) for a in self.added):
            return 0
        return 1

    def suggest(self, word: str, parts: list[str]) -> int:
        """jieba's ``suggest_freq(word, tune=False)``, ``parts`` being jieba's cut of ``word`` (HMM off)."""
        ftotal = float(self.total)
        freq = 1.0
        for part in parts:
            freq *= self.get(part) / ftotal
        return max(int(freq * self.total) + 1, self.get(word))


_built: object | None = None  # a dictionary built ahead (`build_fast_ahead`), for one brief to take


def build_fast_ahead() -> None:
    """Import rjieba and build its dictionary now (~0.3 s of CPU each), before a brief needs them.

    The next brief's segmenter takes that dictionary (`take_fast_dictionary`) instead of building
    one; so do the workers of every pool forked while it is here (each its own copy), which would
    otherwise each build one as they start, on the analysis's critical path.
    """
    global _built
    package = fast_package()
    if package is not None and _built is None:
        dictionary_text()
        _built = package.Jieba()


def take_fast_dictionary(package: ModuleType) -> Any:
    """The dictionary built ahead, once (a brief adds its keywords to it), else a new one."""
    global _built
    built, _built = _built, None
    return built if built is not None else package.Jieba()


class FastTokenizer:
    """rjieba with a brief's keywords added as jieba adds them; texts it would cut otherwise go to jieba."""

    def __init__(self, package: ModuleType, keywords: Iterable[str], jieba_dir: Path) -> None:
        self.keywords = tuple(keywords)
        self.jieba_dir = jieba_dir
        self.fast = take_fast_dictionary(package)
        self._fallback: Tokenizer | None = None
        self.frequencies = frequencies = JiebaFrequencies(dictionary_total(jieba_dir))
        for n, keyword in enumerate(self.keywords):
            if len(keyword.split()) != 1:
                continue
            freq = frequencies.suggest(keyword, self.fast.cut(keyword, False))
            held = frequencies.added.get(keyword, frequencies.in_dictionary(keyword) or 0)
            self.fast.add_word(keyword, freq, None)
            if held:  # jieba-rs takes the old frequency off its total, jieba does not: put it back
                self.fast.add_word(f"\U0010ffff{n}\U0010ffff", held, None)
            frequencies.added[keyword] = freq
            frequencies.total += freq

    def fallback(self) -> Tokenizer:
        """jieba with the brief's keywords, loaded the first time a text needs it."""
        if self._fallback is None:
            from rules.brief_words import brief_tokenizer, prepare_jieba

            prepare_jieba(self.jieba_dir)
            self._fallback = brief_tokenizer(self.keywords)
        return self._fallback

    def lcut(self, sentence: str, HMM: bool = True) -> list[str]:
        if cut_alike(sentence):
            return self.fast.cut(sentence, HMM)
        return self.fallback().lcut(sentence, HMM=HMM)

    def cut(self, sentence: str, HMM: bool = True) -> list[str]:
        return self.lcut(sentence, HMM)


def fast_fits(keywords: Iterable[str]) -> bool:
    """Whether rjieba can segment a brief of these keywords: it is installed, and cuts each as jieba does."""
    return fast_package() is not None and all(cut_alike(keyword) for keyword in keywords)


def fast_tokenizer(keywords: Iterable[str], jieba_dir: Path) -> FastTokenizer | None:
    """The fast segmenter for a brief, or None if rjieba does not fit it (:func:`fast_fits`)."""
    keywords = tuple(keywords)
    package = fast_package()
    if package is None or not fast_fits(keywords):
        return None
    return FastTokenizer(package, keywords, jieba_dir)
