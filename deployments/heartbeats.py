"""A flow run's heartbeats, sent so that none reaches the Prefect server after the run's final state.

Prefect 3.8.8's engine (``flow_engine._send_heartbeats``) emits a run's first heartbeat as the run
starts and queues it for its events client, which first opens a websocket: under load the heartbeat
reached the server 0.4–2.4 s after it was emitted, after the Completed state of a short run. The
crash automation (deployments/crashed_runs.py) then saw a heartbeat with nothing after it and, 90 s
later, tried to mark the completed run Crashed (refused: "already terminal"), and each such firing
made the server build a whole API app for its action (py-spy: a quarter of a busy demo's server CPU).
Known upstream (PrefectHQ/prefect issues 18653, 20887, 21932; open for 3.8.8).

`send_heartbeats` replaces the engine's in the flow-run processes started warm (deployments/
warm_starts.py: serve and the process worker): the first heartbeat comes after one interval (a run's
``Running`` state, which the server itself announces in order with the run's final state, opens the
automation's window instead, so a run shorter than the interval sends none), and a heartbeat and a
state change never overlap: the heartbeat waits until the events client has sent it (at most
``DELIVERY_SECONDS``) while the run's next state waits for it, and no heartbeat is emitted once the
state is final. Runs started by Prefect's own (cold) process path keep Prefect's heartbeats.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any

from prefect import flow_engine
from prefect.events.worker import EventsWorker
from prefect.states import State

DELIVERY_SECONDS = 5.0  # the longest a heartbeat holds the run's next state while it is being sent


def _deliver() -> None:
    """Wait until the events client has sent every event queued so far (at most ``DELIVERY_SECONDS``)."""
    waiter = threading.Thread(target=EventsWorker.instance().wait_until_empty, daemon=True)
    waiter.start()
    waiter.join(DELIVERY_SECONDS)


def _final(engine: Any) -> bool:
    state = engine.flow_run.state if engine.flow_run else None
    return bool(state and state.is_final())


def _guarded(set_state: Callable[..., Any], lock: threading.Lock, is_async: bool) -> Callable[..., Any]:
    """``set_state`` (the engine's own, sync or async) run while no heartbeat is being sent."""
    if is_async:

        async def set_state_async(state: State, force: bool = False) -> State:
            with lock:
                return await set_state(state, force=force)

        return set_state_async

    def set_state_sync(state: State, force: bool = False) -> State:
        with lock:
            return set_state(state, force=force)

    return set_state_sync


@contextmanager
def send_heartbeats(engine: Any, join_on_exit: bool = True) -> Generator[None, None, None]:
    """Prefect's heartbeat context for ``engine`` (same signature), with the order guarantee above."""
    seconds = engine.heartbeat_seconds
    if seconds is None:
        yield
        return
    seconds = max(seconds, flow_engine.MINIMUM_HEARTBEAT_INTERVAL)
    resource, related = engine._build_heartbeat_event_template()
    stop, lock = threading.Event(), threading.Lock()

    def beat() -> None:
        while not stop.wait(seconds):
            with lock:
                if stop.is_set() or _final(engine):
                    return
                try:
                    engine._emit_flow_run_heartbeat(resource, related)
                    _deliver()
                except Exception:  # a missed heartbeat is the automation's business, never the run's
                    engine.logger.debug("Failed to emit heartbeat", exc_info=True)

    is_async = isinstance(engine, flow_engine.AsyncFlowRunEngine)
    engine.set_state = _guarded(engine.set_state, lock, is_async)
    thread = threading.Thread(target=beat, name="flow-run heartbeats", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        with lock:  # a heartbeat being sent is sent before any later state (a failure's comes after this)
            del engine.set_state  # the engine's own method again
        if join_on_exit:
            thread.join(timeout=2)


def install() -> None:
    """Use `send_heartbeats` for the flow runs of this process."""
    flow_engine._send_heartbeats = send_heartbeats  # type: ignore[assignment]
