"""``make demo`` with its ports moved: the Procfile's processes on ``--ports`` .. ``--ports``+4.

For benchmarks on a machine where another demo may hold the usual ports (8001, 4200, 8501, 8000,
8025): the Makefile's ``DEMO_ENV`` (read from the Makefile, so the bench runs what ``make demo``
runs), every address that names a port moved, Prefect's home and the app's data under
``SWITCHYARD_DATA_DIR`` (``var/`` by default), migrations first, then ``deployments.up``'s runner.
``--set KEY=VALUE`` overrides one variable after the Makefile's (e.g. a poll interval to compare).
Ctrl-C stops it as it stops ``make demo``.

    python -m bench.demo --ports 18600 [--makefile Makefile] [--set PREFECT_RUNNER_POLL_FREQUENCY=1]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from core.settings import PLATFORMS, PROJECT_ROOT
from deployments.up import read_procfile, run

# the usual port -> its offset from --ports
OFFSETS = {8001: 0, 4200: 1, 8501: 2, 8000: 3, 8025: 4}


def makefile_env(makefile: Path) -> dict[str, str]:
    """The ``DEMO_ENV`` assignments of a Makefile (``PATH`` left out), make's ``$$`` unescaped."""
    text = makefile.read_text(encoding="utf-8").replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("DEMO_ENV"))
    words = shlex.split(line.partition(":=")[2].replace("$(CURDIR)", str(PROJECT_ROOT)))
    pairs = (word.partition("=") for word in words)
    return {key: value.replace("$$", "$") for key, _, value in pairs if key != "PATH"}


def demo_env(base: int, data_dir: Path, makefile: Path) -> dict[str, str]:
    """The Makefile's demo environment, its ports and data moved."""
    ports = {port: base + offset for port, offset in OFFSETS.items()}
    sandbox, prefect = f"http://127.0.0.1:{ports[8001]}", f"http://127.0.0.1:{ports[4200]}"
    env = makefile_env(makefile) | {
        "PREFECT_HOME": str(data_dir / "prefect"),
        "PREFECT_API_URL": f"{prefect}/api",
        "PREFECT_UI_URL": prefect,
        "SWITCHYARD_DATA_DIR": str(data_dir),
        "SWITCHYARD_PREFECT_UI_URL": prefect,
        "SWITCHYARD_SANDBOX__PORT": str(ports[8001]),
        "SWITCHYARD_SANDBOX__SMTP_PORT": str(ports[8025]),
        "SWITCHYARD_REPORT__SMTP_PORT": str(ports[8025]),
        "SWITCHYARD_GATEWAY__BASE_URL": f"{sandbox}/gateway",
        "SWITCHYARD_NETWORK__BASE_URL": f"{sandbox}/network",
        "SWITCHYARD_MICROBLOG__BASE_URL": f"{sandbox}/microblog",
        "SWITCHYARD_DASHBOARD__PUBLIC_URL": f"http://127.0.0.1:{ports[8501]}",
        "SWITCHYARD_API__PORT": str(ports[8000]),
    }
    for platform in PLATFORMS:
        env[f"SWITCHYARD_PLATFORMS__{platform.upper()}__BASE_URL"] = f"{sandbox}/platforms/{platform}"
    return env


def moved_demo_command(base: int, makefile: Path) -> list[str]:
    """The command that runs this script: the demo on ports ``base``..``base + 4``."""
    return [sys.executable, "-m", "bench.demo", "--ports", str(base), "--makefile", str(makefile)]


def moved_procfile(base: int) -> list[tuple[str, str]]:
    """The Procfile's entries with the ports on their command lines moved."""
    return [
        (name, re.sub(r"\b(4200|8501|8000)\b", lambda m: str(base + OFFSETS[int(m.group())]), command))
        for name, command in read_procfile()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ports", type=int, required=True, help="the first of five free ports")
    parser.add_argument("--makefile", type=Path, default=PROJECT_ROOT / "Makefile", help="whose DEMO_ENV")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="after the Makefile's"
    )
    args = parser.parse_args()
    data_dir = Path(os.environ.get("SWITCHYARD_DATA_DIR", PROJECT_ROOT / "var"))
    os.environ.update(demo_env(args.ports, data_dir, args.makefile))
    os.environ.update(dict(item.split("=", 1) for item in args.set))
    os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "db.migrate"], cwd=PROJECT_ROOT, check=True)
    sys.exit(run(moved_procfile(args.ports), data_dir / "logs"))


if __name__ == "__main__":
    main()
