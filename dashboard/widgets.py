"""The dashboard's two recurring pieces, one way each: a form that stores work and starts its run,
and a section that refreshes itself while work is under way."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st

T = TypeVar("T")
REFRESH_SECONDS = 2


def submit_and_start(
    key: str,
    values: Hashable,
    *,
    store: Callable[[], T],
    stored: Callable[[T], str],
    start: Callable[[T], str | None],
    warnings: Callable[[T], list[str]] = lambda created: [],
) -> T | None:
    """Store what a form holds, say what was stored and what was refused, and start its run.

    A bad form stores nothing and says why (its fields keep what was typed). Submitting the very same
    values again does not store them twice: it says they are stored already.
    """
    last = st.session_state.get(f"{key}:last")
    if last is not None and last[0] == values:
        st.info(f"{last[1]} Already stored: change the form to submit another.")
        return None
    try:
        created = store()
    except ValueError as exc:
        st.error(f"Nothing stored: {exc}.")
        return None
    said = stored(created)
    st.session_state[f"{key}:last"] = (values, said)
    st.success(said)
    for warning in warnings(created):
        st.warning(warning)
    started = start(created)
    if started:
        st.info(started)
    return created


def live(render: Callable[[], None], *, busy: Callable[[], bool], every: float = REFRESH_SECONDS) -> None:
    """Show ``render`` in a fragment that runs again every ``every`` seconds while ``busy()`` holds.

    When busy-ness changes, the whole page runs again, so the refresh starts when work begins and
    stops when it ends (a fragment's timer is fixed when the page runs).
    """
    refreshing = busy()

    def section() -> None:
        render()
        if busy() != refreshing:
            st.rerun(scope="app")

    st.fragment(run_every=every if refreshing else None)(section)()
