"""Web-page word counts: the one user action, submitting pages to count a word on.

Called alike by the dashboard, the count-words flow's store step and the demo.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from core.settings import get_settings
from db.engine import session_factory
from db.webpages import CreatedRequest, create_request


def submit_pages(
    urls: Sequence[str], word: str, *, source: str, sessions: sessionmaker[Session] | None = None
) -> CreatedRequest:
    """Store a request for ``word`` on ``urls`` in one transaction; refused URLs are stored failed.

    Raises ValueError, storing nothing, for a bad word, no URLs or too many (see ``create_request``).
    """
    settings = get_settings()
    with (sessions or session_factory()).begin() as session:
        return create_request(
            session,
            urls=urls,
            word=word,
            source=source,
            allowed=settings.fetch.allowed_networks,
            max_urls=settings.webpages.max_urls,
        )
