"""`python -m flowdeck` is the `flowdeck` command."""

from flowdeck.cli.main import app

app()
