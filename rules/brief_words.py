"""Counting the words of a brief's articles: the brief's keywords counted as substrings, the rest
segmented as jieba does (by rjieba where it cuts alike, see rules/brief_segmenter.py; jieba loaded
once per process otherwise), large corpora by a process pool whose shutdown is bounded."""

from __future__ import annotations

import multiprocessing
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import jieba

from rules.brief_segmenter import Tokenizer, cut_alike, fast_fits, fast_tokenizer

# HMM on: it finds words missing from jieba's dictionary (蔚来, 小红书, 绝绝子), which is what
# social-media briefs are about; it costs ~30% more segmenting time, ~5-10% of the whole analysis.
HMM = True


# fork: the workers inherit the parent's loaded dictionary and start at once; forkserver and spawn
# load it again in each worker (+0.8 s at 10,000 articles, see bench/RESULTS.md). The parent may
# have threads (Prefect), so the workers do nothing but segment and count (no logging, no clients,
# no I/O besides the pool's pipes) and end with os._exit.
START_METHOD = "fork"


POOL_MIN_CHARS = 300_000  # below this (~1,000 articles) one process is faster than starting a pool


CHUNKS_PER_PROCESS = 4


CHUNK_SECONDS = 600.0  # a chunk not counted by then means a hung worker: the analysis fails, saying so


POOL_SHUTDOWN_SECONDS = 10.0  # workers get this long to exit, then SIGTERM, then (as long again) SIGKILL


STOPWORDS_FILE = Path(__file__).with_name("stopwords_zh.txt")


NUMBER_RE = re.compile(r"[\d.,%+\-]+")


@cache
def stopwords() -> frozenset[str]:
    """The built-in Chinese (and a few English) stop words."""
    lines = STOPWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def prepare_jieba(jieba_dir: Path) -> None:
    """Load jieba's dictionary once per process, its cache kept in ``jieba_dir``."""
    if jieba.dt.initialized:
        return
    jieba_dir.mkdir(parents=True, exist_ok=True)
    jieba.dt.tmp_dir = str(jieba_dir)
    jieba.setLogLevel("WARNING")
    jieba.initialize()


def brief_tokenizer(keywords: Iterable[str]) -> jieba.Tokenizer:
    """A copy of the loaded dictionary with the brief's keywords added, so briefs never see each other's."""
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ = dict(jieba.dt.FREQ)
    tokenizer.total = jieba.dt.total
    tokenizer.initialized = True
    for keyword in keywords:
        if len(keyword.split()) == 1:
            tokenizer.add_word(keyword)
    return tokenizer


def segmenter(keywords: Sequence[str], jieba_dir: Path, *, fast: bool = True) -> Tokenizer:
    """The brief's segmenter: rjieba where it cuts as jieba does (``fast`` and installed), else jieba."""
    if fast and (tokenizer := fast_tokenizer(keywords, jieba_dir)) is not None:
        return tokenizer
    prepare_jieba(jieba_dir)
    return brief_tokenizer(keywords)


def keyword_patterns(keywords: Iterable[str]) -> dict[str, re.Pattern[str]]:
    """Each keyword's pattern: any case, any run of spaces for a space.

    Keywords are counted as substrings of the text, as an analyst counts them ("咖啡" in "咖啡馆"
    too), not as the tokens jieba makes. An end in a Latin letter or digit needs a non-letter beside
    it, so "ai" is not counted inside "said".
    """
    patterns = {}
    for keyword in keywords:
        body = r"\s+".join(map(re.escape, keyword.split()))
        before = r"(?<![A-Za-z0-9_])" if keyword[0].isascii() and keyword[0].isalnum() else ""
        after = r"(?![A-Za-z0-9_])" if keyword[-1].isascii() and keyword[-1].isalnum() else ""
        patterns[keyword] = re.compile(before + body + after, re.IGNORECASE)
    return patterns


def is_counted(token: str, stop: frozenset[str]) -> bool:
    """Whether a token counts as a word: 2+ characters with a letter, not a stop word."""
    return (
        len(token) > 1
        and token not in stop
        and not NUMBER_RE.fullmatch(token)
        and any(char.isalpha() for char in token)
    )


class Verdicts(dict[str, bool]):
    """Whether each token counts (not a keyword's own token, :func:`is_counted`), decided once per
    distinct token: a corpus repeats its words, and deciding was most of counting's CPU after jieba."""

    def __init__(self, keywords: Iterable[str]) -> None:
        super().__init__()
        self.folded = {keyword.casefold() for keyword in keywords}
        self.stop = stopwords()

    def __missing__(self, token: str) -> bool:
        verdict = self[token] = token.casefold() not in self.folded and is_counted(token, self.stop)
        return verdict


def count_words(
    texts: Iterable[str], tokenizer: Tokenizer, keywords: frozenset[str]
) -> tuple[Counter[str], Counter[str]]:
    """Count each text once: occurrences of each word, and the number of texts containing it.

    The keywords are counted as substrings; the rest of the words as ``tokenizer`` (the brief's, with
    the keywords in its dictionary) segments the text, the keywords' own tokens left out. A keyword
    jieba cannot keep as one token (a space, an emoji, punctuation inside: "咖啡☕") is taken out of
    the text first, so that its parts ("咖啡") are not counted a second time beside it.
    """
    patterns = keyword_patterns(keywords)
    counted = Verdicts(keywords)
    split_apart = [p for k, p in patterns.items() if len(tokenizer.lcut(k, HMM=False)) > 1]
    counts: Counter[str] = Counter()
    articles: Counter[str] = Counter()
    for text in texts:
        found = Counter({keyword: len(pattern.findall(text)) for keyword, pattern in patterns.items()})
        for pattern in split_apart:
            text = pattern.sub(" ", text)
        tokens = tokenizer.cut(text, HMM=HMM)
        found.update(filter(counted.__getitem__, tokens))
        found = +found  # drops the keywords not found
        counts.update(found)
        articles.update(found.keys())
    return counts, articles


_worker_tokenizer: Tokenizer | None = None


_worker_keywords: frozenset[str] = frozenset()


def _init_worker(jieba_dir: Path, keywords: tuple[str, ...], fast: bool) -> None:
    """Pool initializer: default signal handling (not the parent's: Prefect's handlers, inherited by the
    fork, must not run here, so SIGTERM ends a worker; Ctrl-C is the parent's) and this brief's
    segmenter (jieba's dictionary inherited when forked and loaded)."""
    global _worker_tokenizer, _worker_keywords
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_tokenizer = segmenter(keywords, jieba_dir, fast=fast)
    _worker_keywords = frozenset(keywords)


def _count_chunk(texts: list[str]) -> tuple[Counter[str], Counter[str]]:
    assert _worker_tokenizer is not None, "the pool initializer did not run"
    return count_words(texts, _worker_tokenizer, _worker_keywords)


Counts = tuple[Counter[str], Counter[str]]


class Segmenting:
    """Words being counted, and other work for the same processes: what :func:`segmenting` yields.

    ``counts()`` gives the word counts and the article counts (waiting for them); ``run(f, ...)`` starts
    ``f(...)`` and gives the wait for its result. In one process both run when called.
    """

    def __init__(self, count: Callable[[], Counts]) -> None:
        self._count = count

    def counts(self) -> Counts:
        return self._count()

    def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
        result = function(*args, **kwargs)
        return lambda: result


class PoolSegmenting(Segmenting):
    """The same with a pool: chunks counted by its workers, ``run`` queued after them."""

    def __init__(self, pool: Pool, chunks: list[list[str]]) -> None:
        self.pool = pool
        self.closed = False
        results = pool.imap_unordered(_count_chunk, chunks)

        def count() -> Counts:
            counts: Counter[str] = Counter()
            articles: Counter[str] = Counter()
            for _ in chunks:
                chunk_counts, chunk_articles = self._answer(results.next)
                counts.update(chunk_counts)
                articles.update(chunk_articles)
            return counts, articles

        super().__init__(count)

    def _answer(self, get: Callable[[float], Any]) -> Any:
        """One answer of a worker, polled so that a closing pool ends the wait; RuntimeError if none comes."""
        deadline = time.monotonic() + CHUNK_SECONDS
        while not self.closed and time.monotonic() < deadline:
            try:
                return get(min(1.0, max(0.0, deadline - time.monotonic())))
            except multiprocessing.TimeoutError:
                continue
        raise RuntimeError(
            "the segmenting pool was closed"
            if self.closed
            else f"a segmenting worker gave no answer in {CHUNK_SECONDS:.0f} s"
        )

    def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
        result = self.pool.apply_async(function, args, kwargs)
        return lambda: self._answer(result.get)


def fork_pool(processes: int, keywords: Sequence[str], jieba_dir: Path, fast: bool) -> Pool:
    """A pool of ``processes`` forked workers, each with the brief's segmenter (`_init_worker`)."""
    context = multiprocessing.get_context(START_METHOD)
    return context.Pool(processes, initializer=_init_worker, initargs=(jieba_dir, tuple(keywords), fast))


_ahead: dict[tuple[tuple[str, ...], int], Pool] = {}  # pools forked ahead (`pool_ahead`), by brief


@contextmanager
def pool_ahead(keywords: Sequence[str], *, processes: int, jieba_dir: Path) -> Iterator[None]:
    """Fork the segmenting pool of a brief of ``keywords`` now, for the brief's `segmenting` to take
    later (with the same keywords and ``processes``); on exit, end it if nothing took it.

    Its workers import rjieba and build their segmenters (~0.3 s of CPU each) in processes of their
    own, while this process does something else (collects the brief): not holding this process's GIL,
    and off the analysis's critical path. Only where rjieba segments the brief (jieba loaded in each
    worker would cost ~0.9 s of CPU there); a text that needs jieba has a worker load it then.
    """
    key = (tuple(keywords), processes)
    if processes <= 1 or key in _ahead or not all(map(cut_alike, keywords)):
        yield
        return
    pool = _ahead[key] = fork_pool(processes, keywords, jieba_dir, fast=True)
    try:
        yield
    finally:
        if _ahead.get(key) is pool:
            del _ahead[key]
            shut_down(pool, POOL_SHUTDOWN_SECONDS)


@contextmanager
def segmenting(
    texts: Sequence[str],
    keywords: Sequence[str],
    *,
    processes: int,
    jieba_dir: Path,
    fast: bool = True,
) -> Iterator[Segmenting]:
    """Start counting words in ``texts`` (a pool over chunks when that pays off); yields a
    :class:`Segmenting`, to work on while the pool segments and to give it more work.

    A pool forked ahead for these keywords (`pool_ahead`) is taken whatever the corpus's size.
    Otherwise small corpora are segmented in this process when the counts are asked for.
    ``fast``: rjieba where it cuts as jieba does (the same counts); False: jieba alone.
    """
    pool = _ahead.pop((tuple(keywords), processes), None) if fast else None
    if pool is None:
        if not (fast and fast_fits(keywords)) or not all(map(cut_alike, texts)):
            prepare_jieba(jieba_dir)  # once here (if a text needs it): forked workers inherit the dictionary
        if processes <= 1 or sum(map(len, texts)) < POOL_MIN_CHARS:
            yield Segmenting(
                lambda: count_words(texts, segmenter(keywords, jieba_dir, fast=fast), frozenset(keywords))
            )
            return
        pool = fork_pool(processes, keywords, jieba_dir, fast)
    size = -(-len(texts) // (processes * CHUNKS_PER_PROCESS)) or 1
    chunks = [list(texts[start : start + size]) for start in range(0, len(texts), size)]
    work = PoolSegmenting(pool, chunks)
    try:
        yield work
    finally:
        work.closed = True
        shut_down(pool, POOL_SHUTDOWN_SECONDS)


def shut_down(pool: Pool, timeout: float) -> None:
    """End a pool in bounded time: its workers get ``timeout`` s to exit, then SIGTERM, then SIGKILL."""
    workers = list(pool._pool)  # type: ignore[attr-defined]  # the worker processes
    pool.close()
    for signal_them in (None, "terminate", "kill"):
        deadline = time.monotonic() + timeout
        for worker in workers:
            if signal_them and worker.is_alive():
                getattr(worker, signal_them)()
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        if not any(worker.is_alive() for worker in workers):
            break
    pool.terminate()  # the pool's own threads; its workers are gone by now
