"""The dashboard's recurring pieces, one way each: a form that stores work and starts its run, a
section that refreshes itself while work is under way, what an action said shown after the page runs
again, and a switch stored as soon as it is toggled."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, Literal, NoReturn, TypeVar

import streamlit as st

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
REFRESH_SECONDS = 2
NOTES = "dashboard_notes"  # (kind, text) said by the last action, shown after its rerun

Note = tuple[Literal["success", "info", "warning", "error"], str]


def report(*notes: Note) -> NoReturn:
    """Keep what an action said for the next run, and rerun the whole page to show its effect."""
    st.session_state[NOTES] = list(notes)
    st.rerun(scope="app")


def show_notes() -> None:
    """What the last action said, once."""
    for kind, text in st.session_state.pop(NOTES, []):
        getattr(st, kind)(text)


def stored_toggle(container: Any, label: str, *, key: str, value: bool, store: Callable[[bool], str]) -> None:
    """A toggle showing what is stored (``value``, even if changed elsewhere); toggling it calls
    ``store(on)`` before the page runs and shows what it said, or "Not changed" and why (ValueError)."""

    def changed() -> None:
        try:
            said = store(bool(st.session_state[key]))
        except ValueError as exc:
            st.session_state[NOTES] = [("error", f"Not changed: {exc}.")]
            return
        st.session_state[NOTES] = [("success", said)]

    st.session_state[key] = value
    container.toggle(label, key=key, on_change=changed)


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


def pick(label: str, choices: Mapping[K, T], *, describe: Callable[[T], str], key: str) -> T:
    """One of ``choices`` (by its id) kept across runs in ``key``: the first by default, and when the
    one picked is no longer there."""
    if st.session_state.get(key) not in choices:
        st.session_state.pop(key, None)
    picked = st.selectbox(label, list(choices), format_func=lambda choice: describe(choices[choice]), key=key)
    return choices[picked]
