"""``mlsys local up|status|down``."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from mlsys.cli import console
from mlsys.local.stack import LocalStack

app = typer.Typer(
    help="Run the whole stack on this machine (emulators, function, service).", no_args_is_help=True
)


@app.command()
def up() -> None:
    """Start GCS and BigQuery emulators, the registry function, the bridge and the service."""
    stack = LocalStack()
    start = time.monotonic()
    with console.status("starting the local stack...") as status:

        def ready(name: str) -> None:
            console.print(f"  [green]✓[/] {name} ready ({time.monotonic() - start:.1f}s)")
            status.update(f"starting the local stack... ({name} ready)")

        info = stack.up(on_ready=ready)
    console.print(
        f"[bold green]local stack up[/] in {info.startup_seconds:.1f}s; "
        f"endpoints in [cyan]{stack.env_file}[/]"
    )
    _print_env(info.env)


@app.command()
def status() -> None:
    """Show which processes of the local stack run."""
    stack = LocalStack()
    info = stack.read()
    if info is None:
        console.print("local stack: [yellow]not running[/] (start it with `mlsys local up`)")
        raise typer.Exit(1)
    table = Table("component", "pid", "state", "endpoint", "log")
    for name, record in info.records.items():
        state = "[green]running[/]" if record.is_running() else "[red]stopped[/]"
        table.add_row(name, str(record.pid), state, record.url, record.log)
    console.print(table)
    _print_env(info.env)
    if not stack.is_running():
        raise typer.Exit(1)


@app.command()
def down() -> None:
    """Stop exactly the processes `mlsys local up` started and remove .mlsys/local.env."""
    stopped = LocalStack().down()
    if stopped:
        console.print(f"stopped: {', '.join(stopped)}")
    else:
        console.print("nothing was running")


def _print_env(env: dict[str, str]) -> None:
    for key, value in env.items():
        console.print(f"  [dim]{key}[/]={value}")
