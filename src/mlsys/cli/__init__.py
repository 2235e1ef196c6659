"""The ``mlsys`` command line: thin Typer commands over the library, rich output."""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

from mlsys.errors import MlsysError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="mlsys",
    help="Ship scikit-learn models on Google Cloud: registry, batch predictions, promotion.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from mlsys.cli import bqml, demo, local, models, monitor, predict, promote, schedules

    app.add_typer(local.app, name="local")
    app.add_typer(models.app, name="models")
    app.add_typer(models.registry_app, name="registry")
    app.command("demo")(demo.demo)
    app.command("predict")(predict.predict)
    app.add_typer(schedules.app, name="schedules")
    app.command("export-bqml")(bqml.export_bqml)
    app.command("promote")(promote.promote)
    app.command("rollback")(promote.rollback)
    app.command("archive")(promote.archive)
    app.command("monitor")(monitor.monitor)


def main() -> None:
    """Console-script entry point: runs the app and turns mlsys errors into clear messages."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        app()
    except MlsysError as exc:
        err_console.print(f"[bold red]error[/] [red]{exc.code}[/]: {exc.message}")
        sys.exit(2 if exc.http_status < 500 else 1)
