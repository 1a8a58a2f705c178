"""`make cluster`: Procfile.cluster runs two limited workers for every pool of prefect.yaml, and a
database that does not answer stops it with a message that says which and what to do."""

from __future__ import annotations

import re
import socket
from collections import Counter

import pytest
import yaml

from core.settings import PROJECT_ROOT, ServeSettings
from deployments.cluster import check, worker_command
from deployments.specs import PREFECT_YAML, load_pool_names
from deployments.up import read_procfile

WORKER = re.compile(r"deployments\.cluster worker (\w+) (\d+) --limit \$CLUSTER_LIMIT_(\w+) ")


def test_the_cluster_procfile_has_two_limited_workers_per_pool_after_the_server_and_its_setup() -> None:
    entries = read_procfile(PROJECT_ROOT / "Procfile.cluster")
    names = [name for name, _ in entries]
    assert names[:3] == ["sandbox", "prefect", "setup"]
    workers = [WORKER.search(command) for _, command in entries[3:]]
    assert all(workers), "every other process is a worker with --limit"
    pools = Counter(match.group(1) for match in workers if match)
    assert pools == dict.fromkeys(load_pool_names(), 2)
    assert all(match.group(3) == match.group(1).upper() for match in workers if match)


def test_a_worker_is_started_with_its_pool_name_and_limit() -> None:
    command = worker_command("mailing", "mailing-2", 3)
    assert command[1:] == [
        "-m",
        "deployments.worker",
        "--pool",
        "mailing",
        "--name",
        "mailing-2",
        "--limit",
        "3",
    ]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_database_that_does_not_answer_stops_make_cluster_with_what_to_do() -> None:
    port = _closed_port()
    with pytest.raises(SystemExit) as stopped:
        check(
            f"postgresql+psycopg2://switchyard:very-secret@127.0.0.1:{port}/switchyard",
            "sqlite:///prefect.db",
        )
    message = str(stopped.value)
    assert f"the app database at postgresql+psycopg2://switchyard:***@127.0.0.1:{port}/switchyard" in message
    assert "is PostgreSQL running there" in message
    assert "CLUSTER_PREFECT_DATABASE_URL must be a postgresql URL" in message
    assert "very-secret" not in message


def test_every_pools_flow_runs_send_heartbeats_as_often_as_the_crash_automation_expects() -> None:
    definitions = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))["definitions"]
    heartbeat = str(ServeSettings().heartbeat_seconds)
    for pool in definitions["work_pools"].values():
        assert pool["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == heartbeat
