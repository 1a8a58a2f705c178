"""``python -m cli``: run the command line."""

from cli.app import app

app(prog_name="python -m cli")
