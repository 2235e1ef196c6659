"""The ``mlsys`` command line: thin Typer commands over the library, rich output.

``mlsys --help`` imports no Google client, pydantic or settings: each command imports what it
uses when it runs (``bench/cli.py`` measures the start-up).
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from rich.console import Console

from mlsys.cli.failures import known_failure
from mlsys.errors import MlsysError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="mlsys",
    help="Ship scikit-learn models on Google Cloud: registry, batch predictions, promotion.",
    epilog="Example: mlsys local up && mlsys demo && mlsys models list",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: ``--debug``: let a failure's traceback through instead of its one-line summary.
_DEBUG = [False]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"mlsys {version('mlsys')}")
        raise typer.Exit()


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of a failure")
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version"),
    ] = False,
) -> None:
    """Ship scikit-learn models on Google Cloud: registry, batch predictions, promotion."""
    _DEBUG[0] = debug


def _register() -> None:
    from mlsys.cli import bqml, demo, local, models, monitor, predict, promote, schedules

    app.add_typer(local.app, name="local")
    app.add_typer(models.app, name="models")
    app.add_typer(models.registry_app, name="registry")
    app.command("demo", epilog=demo.EXAMPLE)(demo.demo)
    app.command("predict", epilog=predict.EXAMPLE)(predict.predict)
    app.add_typer(schedules.app, name="schedules")
    app.command("export-bqml", epilog=bqml.EXAMPLE)(bqml.export_bqml)
    app.command("promote", epilog=promote.PROMOTE_EXAMPLE)(promote.promote)
    app.command("rollback", epilog=promote.ROLLBACK_EXAMPLE)(promote.rollback)
    app.command("archive", epilog=promote.ARCHIVE_EXAMPLE)(promote.archive)
    app.command("monitor", epilog=monitor.EXAMPLE)(monitor.monitor)


def main() -> None:
    """Console-script entry point: runs the app and turns failures into one clear line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        app()
    except MlsysError as exc:
        if _DEBUG[0]:
            raise
        err_console.print(f"[bold red]error[/] [red]{exc.code}[/]: {exc.message}")
        sys.exit(2 if exc.http_status < 500 else 1)
    except Exception as exc:
        line = known_failure(exc)
        if line is None or _DEBUG[0]:
            raise
        err_console.print(f"[bold red]error[/]: {line} [dim](--debug shows the traceback)[/]")
        sys.exit(1)
