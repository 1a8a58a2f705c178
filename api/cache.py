"""Short-lived answers of expensive reads, per process: a read asked again within ``seconds`` gets the
answer already made, and concurrent askers of one key wait for one computation instead of each
running it (a mailing's statistics over 100k messages cost tens of milliseconds of database time;
under load, every caller computing them queued behind the others). Each answer carries an ETag, so
a client that has it gets 304 Not Modified."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from fastapi import Request, Response
from pydantic import BaseModel


@dataclass(frozen=True)
class Answer:
    """A JSON body made once, its ETag, and when it was made (monotonic seconds)."""

    body: bytes
    etag: str
    made_at: float


class FreshFor:
    """Answers kept per key for the ``seconds`` each asker allows (0: made anew for every asker that
    does not arrive while one is being made), at most ``size`` keys (the least recently made go first)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def answer(self, key: Hashable, make: Callable[[], BaseModel], seconds: float) -> Answer:
        """The answer for ``key`` made within ``seconds``, else made by ``make`` (once for all askers
        waiting for it)."""
        asked_at = time.monotonic()
        if seconds > 0 and (found := self._made_since(key, asked_at - seconds)) is not None:
            return found
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one maker per key; who waited for it takes what it made
            since = asked_at - seconds if seconds > 0 else asked_at
            if (found := self._made_since(key, since)) is not None:
                return found
            body = make().model_dump_json().encode()
            made = Answer(body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"', time.monotonic())
            with self._guard:
                self._answers[key] = made
                self._answers.move_to_end(key)
                while len(self._answers) > self.size:
                    gone, _ = self._answers.popitem(last=False)
                    self._locks.pop(gone, None)
            return made

    def _made_since(self, key: Hashable, since: float) -> Answer | None:
        with self._guard:
            found = self._answers.get(key)
        return found if found is not None and found.made_at >= since else None

    def respond(
        self, request: Request, key: Hashable, make: Callable[[], BaseModel], seconds: float
    ) -> Response:
        """The JSON answer with its ETag and ``Cache-Control``; 304 when the client's ``If-None-Match``
        names it."""
        answer = self.answer(key, make, seconds)
        headers = {"ETag": answer.etag, "Cache-Control": f"private, max-age={int(seconds)}"}
        if answer.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(answer.body, media_type="application/json", headers=headers)
