"""Web-page word counts: the user actions, submitting pages to count a word on and re-counting the
pages that failed.

Called alike by the dashboard, the CLI, the count-words flow's store step and the demo.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from core.settings import get_settings
from db.claims import Lease
from db.engine import session_factory
from db.webpages import (
    CreatedRequest,
    PageToFetch,
    claim_pages,
    create_request,
    list_requests,
    requeue_failed,
)


def submit_pages(
    urls: Sequence[str], word: str, *, source: str, sessions: sessionmaker[Session] | None = None
) -> CreatedRequest:
    """Store a request for ``word`` on ``urls`` in one transaction; refused URLs are stored failed.

    Raises ValueError, storing nothing, for a bad word, no URLs or too many (see ``create_request``).
    """
    with (sessions or session_factory()).begin() as session:
        return _create(session, urls, word, source)


def submit_and_claim(
    urls: Sequence[str],
    word: str,
    *,
    source: str,
    lease: Lease,
    limit: int,
    sessions: sessionmaker[Session] | None = None,
) -> tuple[CreatedRequest, list[PageToFetch]]:
    """``submit_pages``, and up to ``limit`` of the new request's pages claimed for ``lease`` in the same
    transaction: the run that stores a request fetches those at once, without a claim of its own."""
    with (sessions or session_factory()).begin() as session:
        created = _create(session, urls, word, source)
        claimed = claim_pages(
            session,
            limit=limit,
            lease=lease,
            max_attempts=get_settings().webpages.max_attempts,
            request_id=created.id,
        )
    return created, claimed


def _create(session: Session, urls: Sequence[str], word: str, source: str) -> CreatedRequest:
    settings = get_settings()
    return create_request(
        session,
        urls=urls,
        word=word,
        source=source,
        allowed=settings.fetch.allowed_networks,
        max_urls=settings.webpages.max_urls,
    )


def recount_failed(request_id: int, *, sessions: sessionmaker[Session] | None = None) -> int:
    """Put the failed pages of a request back in the queue, attempts reset; returns how many.

    Pages refused when the request was stored stay failed: they would be refused the same way. Each
    page keeps its last result until it is counted again. Raises ValueError for an unknown request.
    """
    with (sessions or session_factory()).begin() as session:
        if not list_requests(session, request_ids=[request_id]):
            raise ValueError(f"there is no request {request_id}")
        return requeue_failed(session, request_id=request_id)
