"""Apply or create Alembic migrations: ``python -m db.migrate`` upgrades the settings' database to head."""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config

from db.engine import get_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str | None = None) -> None:
    """Bring the database at ``url`` (default: settings) to the newest schema."""
    engine = get_engine(url)
    with engine.begin() as connection:
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("upgrade", help="apply every migration (the default)")
    revision = sub.add_parser("revision", help="autogenerate a migration from the models")
    revision.add_argument("-m", "--message", required=True)
    args = parser.parse_args()
    if args.command == "revision":
        engine = get_engine()
        command.revision(
            alembic_config(engine.url.render_as_string(hide_password=False)),
            message=args.message,
            autogenerate=True,
        )
    else:
        upgrade()
        print(f"database at {get_engine().url.render_as_string(hide_password=True)} is up to date")


if __name__ == "__main__":
    main()
