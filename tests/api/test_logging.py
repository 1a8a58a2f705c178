"""The access log survives Prefect's logging set-up, and shows no key."""

from __future__ import annotations

import subprocess
import sys

from core.settings import PROJECT_ROOT

SCRIPT = """
import logging, logging.config
from uvicorn.config import LOGGING_CONFIG
logging.config.dictConfig(LOGGING_CONFIG)  # what uvicorn does before it loads the app
from api.app import create_app
create_app()
access = logging.getLogger("uvicorn.access")
assert access.handlers and access.getEffectiveLevel() == logging.INFO, (access.handlers, access.level)
assert logging.getLogger("uvicorn.error").getEffectiveLevel() == logging.INFO
"""


def test_uvicorn_logging_is_kept_after_prefect_is_imported() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
