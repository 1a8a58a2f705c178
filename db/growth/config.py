"""The job logic: settings give the defaults, the dashboard's changes are kept in one row."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.settings import JobLogic, get_settings
from db.growth.models import LogicConfig

ROW_ID = 1


def _defaults() -> dict[str, object]:
    return get_settings().growth.model_dump(include=set(JobLogic.model_fields))


def job_logic(session: Session) -> JobLogic:
    """The job logic now: the stored changes over the settings' defaults."""
    row = session.get(LogicConfig, ROW_ID)
    stored = row.logic if row else {}
    known = {name: value for name, value in stored.items() if name in JobLogic.model_fields}
    return JobLogic.model_validate(_defaults() | known)


def change_job_logic(session: Session, **changes: object) -> JobLogic:
    """Change some knobs of the job logic (validated: ValueError names the bad one, stores nothing)."""
    logic = JobLogic.model_validate(job_logic(session).model_dump() | changes)
    row = session.get(LogicConfig, ROW_ID)
    if row is None:
        session.add(LogicConfig(id=ROW_ID, logic=logic.model_dump()))
    else:
        row.logic = logic.model_dump()
    session.flush()
    return logic
