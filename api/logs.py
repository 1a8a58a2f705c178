"""Keep uvicorn's logging as uvicorn (or its ``--log-config``) set it up.

Importing Prefect (``deployments.runs`` starts runs) applies Prefect's logging configuration, which
sets the ``uvicorn`` logger to WARNING with Prefect's handler: the access log would vanish. ``api``
takes a snapshot of uvicorn's loggers when the package is first imported (uvicorn has configured
them by then, and Prefect is not imported yet) and ``create_app`` puts it back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@dataclass(frozen=True)
class LoggerState:
    name: str
    level: int
    handlers: tuple[logging.Handler, ...]
    propagate: bool
    disabled: bool


def snapshot() -> list[LoggerState]:
    states = []
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        states.append(
            LoggerState(name, logger.level, tuple(logger.handlers), logger.propagate, logger.disabled)
        )
    return states


def restore(states: list[LoggerState]) -> None:
    for state in states:
        logger = logging.getLogger(state.name)
        logger.setLevel(state.level)
        logger.handlers = list(state.handlers)
        logger.propagate, logger.disabled = state.propagate, state.disabled
