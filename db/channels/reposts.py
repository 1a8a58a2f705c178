"""A channel's repost and hashtag rules, the repost log (one row per channel and timeline post, so a
post is never reposted twice), the timeline watermark and the lease of the run polling a channel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from db.base import upsert_insert, utcnow
from db.channels.models import (
    Channel,
    ChannelState,
    RepostRecord,
    RepostRule,
    RepostStatus,
    TimelineWatermark,
)
from db.channels.models import HashtagRule as HashtagRuleRow
from db.claims import Lease, claim_ids, claim_values, renew_claims
from rules.channels import HashtagRule
from rules.channels import RepostRule as RepostFilter


@dataclass(frozen=True)
class Judged:
    """What a poll decided for one timeline post."""

    source_post_id: str
    author: str
    status: RepostStatus  # pending (to repost now), waiting (not yet), skipped (never)
    reason: str | None


def save_repost_rule(session: Session, *, channel_id: int, name: str, rule: RepostFilter) -> int:
    """Store a validated repost rule for the channel; returns its id."""
    if not name.strip() or len(name) > 100:
        raise ValueError("a rule needs a name of 1–100 characters")
    row = RepostRule(channel_id=channel_id, name=name.strip(), rule=rule.model_dump(mode="json"))
    session.add(row)
    session.flush()
    return row.id


def repost_rules(session: Session, *, channel_id: int) -> list[tuple[int, str, RepostFilter]]:
    """The channel's enabled rules: (id, name, rule)."""
    rows = session.scalars(
        select(RepostRule)
        .where(RepostRule.channel_id == channel_id, RepostRule.enabled.is_(True))
        .order_by(RepostRule.id)
    )
    return [(row.id, row.name, RepostFilter.model_validate(row.rule)) for row in rows]


def delete_repost_rule(session: Session, *, channel_id: int, rule_id: int) -> bool:
    return bool(
        session.execute(
            delete(RepostRule).where(RepostRule.channel_id == channel_id, RepostRule.id == rule_id)
        ).rowcount
    )


def enable_repost_rule(session: Session, *, channel_id: int, rule_id: int, enabled: bool) -> bool:
    """Turn one of the channel's repost rules on or off; whether the rule exists."""
    return bool(
        session.execute(
            update(RepostRule)
            .where(RepostRule.channel_id == channel_id, RepostRule.id == rule_id)
            .values(enabled=enabled)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def set_hashtag_rule(session: Session, *, channel_id: int, rule: HashtagRule | None) -> None:
    """The channel's one hashtag rule (None: none)."""
    session.execute(delete(HashtagRuleRow).where(HashtagRuleRow.channel_id == channel_id))
    if rule is not None:
        session.add(HashtagRuleRow(channel_id=channel_id, rule=rule.model_dump(mode="json")))
    session.flush()


def hashtag_rule(session: Session, *, channel_id: int) -> HashtagRule | None:
    row = session.scalar(
        select(HashtagRuleRow).where(
            HashtagRuleRow.channel_id == channel_id, HashtagRuleRow.enabled.is_(True)
        )
    )
    return HashtagRule.model_validate(row.rule) if row else None


def record_judgements(
    session: Session, *, channel_id: int, judged: Sequence[Judged], now: datetime | None = None
) -> list[str]:
    """Write what a poll decided; a post judged before keeps its row (a waiting one may move on to
    pending or skipped). Returns the ids of posts now pending: the ones to repost, each once."""
    now = now or utcnow()
    if not judged:
        return []
    rows = [
        {
            "channel_id": channel_id,
            "source_post_id": j.source_post_id,
            "author": j.author,
            "status": j.status,
            "reason": j.reason,
            "decided_at": now,
        }
        for j in {j.source_post_id: j for j in judged}.values()
    ]
    statement = upsert_insert(session, RepostRecord)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["channel_id", "source_post_id"],
            set_={
                "status": statement.excluded.status,
                "reason": statement.excluded.reason,
                "decided_at": now,
            },
            where=RepostRecord.status == RepostStatus.WAITING,
        ),
        rows,
    )
    ids = [row["source_post_id"] for row in rows]
    return list(
        session.scalars(
            select(RepostRecord.source_post_id).where(
                RepostRecord.channel_id == channel_id,
                RepostRecord.source_post_id.in_(ids),
                RepostRecord.status == RepostStatus.PENDING,
            )
        )
    )


def waiting_posts(session: Session, *, channel_id: int, limit: int = 100) -> list[str]:
    """Timeline posts the channel waits on ("once it reaches N likes"), oldest first."""
    return list(
        session.scalars(
            select(RepostRecord.source_post_id)
            .where(RepostRecord.channel_id == channel_id, RepostRecord.status == RepostStatus.WAITING)
            .order_by(RepostRecord.decided_at)
            .limit(limit)
        )
    )


def reposted(session: Session, *, channel_id: int, source_post_id: str, error: str | None = None) -> bool:
    """The repost went out (or, with ``error``, failed for good); only a pending row moves."""
    values: dict[str, object] = (
        {"status": RepostStatus.FAILED, "reason": error}
        if error
        else {"status": RepostStatus.REPOSTED, "reposted_at": utcnow()}
    )
    return bool(
        session.execute(
            update(RepostRecord)
            .where(
                and_(RepostRecord.channel_id == channel_id, RepostRecord.source_post_id == source_post_id),
                RepostRecord.status == RepostStatus.PENDING,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def repost_log(session: Session, *, channel_id: int, limit: int = 200, offset: int = 0) -> list[RepostRecord]:
    return list(
        session.scalars(
            select(RepostRecord)
            .where(RepostRecord.channel_id == channel_id)
            .order_by(RepostRecord.decided_at.desc(), RepostRecord.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def count_repost_log(session: Session, *, channel_id: int) -> int:
    query = select(func.count()).select_from(RepostRecord).where(RepostRecord.channel_id == channel_id)
    return session.scalar(query) or 0


def watermark(session: Session, *, channel_id: int) -> str | None:
    row = session.get(TimelineWatermark, channel_id)
    return row.since_id if row else None


def move_watermark(session: Session, *, channel_id: int, since_id: str, now: datetime | None = None) -> None:
    """The newest post seen; it only moves forward (ids grow: compared as numbers)."""
    row = session.get(TimelineWatermark, channel_id)
    if row is None:
        session.add(TimelineWatermark(channel_id=channel_id, since_id=since_id, polled_at=now or utcnow()))
    elif row.since_id is None or int(since_id) > int(row.since_id):
        row.since_id, row.polled_at = since_id, now or utcnow()
    session.flush()


def pending_posts(session: Session, *, channel_id: int, limit: int = 100) -> list[str]:
    """Posts to repost (written ``pending`` before the call), oldest decision first: this poll's and
    any a lost run or a limit left. Sending one again is safe: "already reposted" counts as done."""
    return list(
        session.scalars(
            select(RepostRecord.source_post_id)
            .where(RepostRecord.channel_id == channel_id, RepostRecord.status == RepostStatus.PENDING)
            .order_by(RepostRecord.decided_at, RepostRecord.id)
            .limit(limit)
        )
    )


def reposted_count(session: Session, *, channel_id: int) -> int:
    """How many posts the channel has reposted through Switchyard."""
    return session.scalar(
        select(func.count())
        .select_from(RepostRecord)
        .where(RepostRecord.channel_id == channel_id, RepostRecord.status == RepostStatus.REPOSTED)
    )


def _pollable() -> ColumnElement[bool]:
    """A channel that reposts: running with its reposting switch on."""
    return TimelineWatermark.channel_id.in_(_reposting())


def _reposting() -> Select[tuple[int]]:
    """The ids of the running channels with their reposting switch on."""
    return select(Channel.id).where(Channel.state == ChannelState.RUNNING, Channel.reposting_on.is_(True))


def any_reposting(session: Session) -> bool:
    """Whether a channel reposts (`claim_polls` may find a channel to poll)."""
    return bool(session.scalar(select(exists(_reposting()))))


def claim_polls(session: Session, *, lease: Lease, limit: int, now: datetime | None = None) -> list[int]:
    """Claim up to ``limit`` channels to poll (running, reposting on, not held by a live lease): the
    ids of the channels this lease now polls. A channel polled for the first time gets its row."""
    now = now or utcnow()
    reposting = _reposting()
    session.execute(
        upsert_insert(session, TimelineWatermark)
        .from_select(["channel_id"], reposting)
        .on_conflict_do_nothing(index_elements=["channel_id"])
    )
    free = or_(TimelineWatermark.claimed_until.is_(None), TimelineWatermark.claimed_until < now)
    return claim_ids(
        session,
        id_column=TimelineWatermark.channel_id,
        claimable=and_(_pollable(), free),
        values=claim_values(lease, now),
        limit=limit,
    )


def renew_polls(
    session: Session, *, lease: Lease, channel_ids: Sequence[int], now: datetime | None = None
) -> set[int]:
    """Extend this lease on the channels it still polls (and that still repost)."""
    return renew_claims(
        session,
        id_column=TimelineWatermark.channel_id,
        held=_pollable(),
        ids=channel_ids,
        lease=lease,
        now=now or utcnow(),
    )


def release_polls(session: Session, *, lease: Lease, channel_ids: Sequence[int]) -> int:
    """The poll of these channels is over: another run may poll them."""
    if not channel_ids:
        return 0
    return session.execute(
        update(TimelineWatermark)
        .where(
            TimelineWatermark.channel_id.in_(list(channel_ids)),
            TimelineWatermark.claimed_by == lease.owner,
        )
        .values(claimed_until=None, claimed_by=None)
        .execution_options(synchronize_session=False)
    ).rowcount
