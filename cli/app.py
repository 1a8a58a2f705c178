"""The root of the command line: ``python -m cli clients …``, ``… mailings …``, ``… briefs …``,
``… pages …``, ``… growth …``, ``… channels …``, ``… secrets …``, ``… reports …`` and ``… api-keys …``.

The database comes from settings (``SWITCHYARD_DATABASE_URL``, by default SQLite under ``./var``);
starting a run now needs ``PREFECT_API_URL``, without it the scheduled run does the work.
"""

from __future__ import annotations

import typer

from cli.api_keys import api_keys_app
from cli.briefs import briefs_app
from cli.channels import channels_app
from cli.growth import growth_app
from cli.mailing import clients_app, mailings_app
from cli.reports import reports_app
from cli.secrets import secrets_app
from cli.webpages import pages_app

# No locals in tracebacks: they would show the database URL, password included. No shell completion:
# it needs an installed script, and this runs as ``python -m cli``.
app = typer.Typer(
    help="Switchyard from the command line.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(clients_app, name="clients")
app.add_typer(mailings_app, name="mailings")
app.add_typer(briefs_app, name="briefs")
app.add_typer(pages_app, name="pages")
app.add_typer(growth_app, name="growth")
app.add_typer(channels_app, name="channels")
app.add_typer(secrets_app, name="secrets")
app.add_typer(reports_app, name="reports")
app.add_typer(api_keys_app, name="api-keys")
