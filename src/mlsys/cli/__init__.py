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

from mlsys.cli.failures import check_emulators, known_failure
from mlsys.errors import MlsysError

# emoji=False: no ":name:" codes in output (a description may hold one), and rich skips
# loading its emoji table (0.05 s of every call).
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

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


#: Each top-level name: (module of mlsys.cli, attribute, a group or a command, example).
_COMMANDS = {
    "demo": ("demo", "demo", "command"),
    "predict": ("predict", "predict", "command"),
    "export-bqml": ("bqml", "export_bqml", "command"),
    "promote": ("promote", "promote", "command"),
    "rollback": ("promote", "rollback", "command"),
    "archive": ("promote", "archive", "command"),
    "monitor": ("monitor", "monitor", "command"),
    "local": ("local", "app", "group"),
    "models": ("models", "app", "group"),
    "registry": ("models", "registry_app", "group"),
    "schedules": ("schedules", "app", "group"),
}


#: The commands that call Google Cloud (or the emulators) from this process.
_BACKEND_COMMANDS = {
    "models",
    "registry",
    "predict",
    "export-bqml",
    "promote",
    "rollback",
    "archive",
    "monitor",
}


#: The commands already added to the app (main() may run more than once in a process).
_REGISTERED: set[str] = set()


def _register(only: str | None = None) -> None:
    """Add the commands to the app: all of them, or ``only`` the one a command line runs (its
    module alone is imported, and Typer builds its parameters alone)."""
    import importlib

    for name, (module_name, attribute, kind) in _COMMANDS.items():
        if (only is not None and name != only) or name in _REGISTERED:
            continue
        _REGISTERED.add(name)
        module = importlib.import_module(f"mlsys.cli.{module_name}")
        target = getattr(module, attribute)
        if kind == "group":
            app.add_typer(target, name=name)
        else:
            app.command(name, epilog=module.EXAMPLES[name])(target)


def _invoked(argv: list[str]) -> str | None:
    """The top-level command of a command line, if it names one (else every one is needed)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in _COMMANDS else None
        if arg in ("-h", "--help", "--version"):
            return None
    return None


def main() -> None:
    """Console-script entry point: runs the app and turns failures into one clear line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = sys.argv[1:]
    command = _invoked(args)
    _register(only=command)
    # Read here too: the emulator check below runs before Typer parses the options.
    _DEBUG[0] = "--debug" in args[: args.index(command) if command else len(args)]
    try:
        if command in _BACKEND_COMMANDS and not {"-h", "--help"} & set(args):
            check_emulators()
        app()
    except MlsysError as exc:
        if _DEBUG[0]:
            raise
        err_console.print(f"[bold red]error[/] [red]{exc.code}[/]: {exc.message}", soft_wrap=True)
        sys.exit(2 if exc.http_status < 500 else 1)
    except Exception as exc:
        line = known_failure(exc)
        if line is None or _DEBUG[0]:
            raise
        # soft_wrap: one line in a log or a pipe too (the terminal wraps it for the eye).
        err_console.print(
            f"[bold red]error[/]: {line} [dim](--debug shows the traceback)[/]", soft_wrap=True
        )
        sys.exit(1)
