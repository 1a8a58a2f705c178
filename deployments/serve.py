"""Embedded mode: serve every deployment of prefect.yaml, with its schedule, in this one process.

Needs a Prefect server (``PREFECT_API_URL``): schedules only fire there. ``make demo`` starts one.
"""

from __future__ import annotations

import os

from prefect import serve

from core.settings import PROJECT_ROOT
from deployments.readiness import wait_for_prefect_api
from deployments.specs import build_deployment, load_specs


def main() -> None:
    os.chdir(PROJECT_ROOT)
    wait_for_prefect_api()
    serve(*(build_deployment(spec) for spec in load_specs()))


if __name__ == "__main__":
    main()
