"""``mlsys local up|status|restart|down|token|replay-dead-letters``."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated

import typer

from mlsys.cli import console
from mlsys.cli.tables import Col, print_table

if TYPE_CHECKING:
    from mlsys.local.stack import LocalStack


def _stack() -> LocalStack:
    """The project's local stack (imported on use: `mlsys --help` stays fast)."""
    from mlsys.local.stack import LocalStack

    return LocalStack()


app = typer.Typer(
    help="Run the whole stack on this machine (emulators, IAM proxy, function, service).",
    no_args_is_help=True,
)


@app.command(epilog="Example: mlsys local up  (then: mlsys local status)")
def up() -> None:
    """Start the local stack, or reuse the running one (starting again what died)."""
    stack = _stack()
    start = time.monotonic()
    with console.status("starting the local stack...") as status:

        def ready(name: str) -> None:
            console.print(f"  [green]✓[/] {name} ready ({time.monotonic() - start:.1f}s)")
            status.update(f"starting the local stack... ({name} ready)")

        info = stack.up(on_ready=ready)
    if info.reused:
        console.print(
            f"[bold green]local stack already running[/] (since {time.ctime(info.started_at)}); "
            f"endpoints in [cyan]{stack.env_file}[/]"
        )
    else:
        console.print(
            f"[bold green]local stack up[/] in {info.startup_seconds:.1f}s; "
            f"endpoints in [cyan]{stack.env_file}[/]"
        )
    _print_env(info.env)


@app.command(epilog="Example: mlsys local status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show each component's real health (its probes), restarts and dead letters; exit 1 if
    anything is unhealthy."""
    from mlsys.local.spool import dead_letters

    stack = _stack()
    report = stack.health()
    if not report:
        if as_json:
            console.print_json(json.dumps({"running": False, "components": []}))
        else:
            console.print("local stack: [yellow]not running[/] (start it with `mlsys local up`)")
        raise typer.Exit(1)
    if as_json:
        info = stack.read()
        found = {
            "running": True,
            "healthy": all(item.healthy for item in report),
            "components": [
                {
                    "name": item.name,
                    "pid": item.pid,
                    "running": item.running,
                    "healthy": item.healthy,
                    "restarts": item.restarts,
                    "last_restart_reason": item.last_reason,
                    "endpoint": item.url,
                    "log": str(item.log) if item.log else None,
                }
                for item in report
            ],
            "dead_letters": len(dead_letters(stack.state_dir / "events")),
            "env": info.env if info is not None else {},
        }
        console.print_json(json.dumps(found))
        if not found["healthy"]:
            raise typer.Exit(1)
        return
    rows = []
    for item in report:
        if not item.running:
            health = "[red]dead[/]"
        else:
            health = "[green]healthy[/]" if item.healthy else "[red]unhealthy[/]"
        restarts = f"{item.restarts}" + (f" ({item.last_reason})" if item.last_reason else "")
        rows.append([item.name, str(item.pid), health, restarts, item.url or "", item.log or ""])
    cols = [
        Col("component", key=True),
        Col("pid", drop=2),
        Col("health", key=True),
        Col("restarts", text=True, drop=3),
        Col("endpoint", drop=1),
        Col("log", text=True, drop=4),
    ]
    print_table(console, cols, rows)
    letters = dead_letters(stack.state_dir / "events")
    if letters:
        folder = stack.state_dir / "events" / "dead"
        console.print(
            f"[yellow]{len(letters)} event(s) dead-lettered[/] in {folder} "
            "(deliver them again with `mlsys local replay-dead-letters`)"
        )
    info = stack.read()
    if info is not None:
        _print_env(info.env)
    if not all(item.healthy for item in report):
        raise typer.Exit(1)


@app.command(epilog="Example: mlsys local restart function")
def restart(
    component: Annotated[str, typer.Argument(help="gcs, bigquery, proxy, bridge, function, ...")],
) -> None:
    """Start one component again now (as Cloud Run starts a new instance); data is kept."""
    record = _stack().restart(component)
    console.print(f"{component} restarted (pid {record.pid}, restarts {record.restarts})")


@app.command(epilog="Example: mlsys local down")
def down() -> None:
    """Stop exactly the processes `mlsys local up` started; remove .mlsys/local.env and data."""
    stopped = _stack().down()
    if stopped:
        console.print(f"stopped: {', '.join(stopped)}")
    else:
        console.print("nothing was running")


@app.command(epilog="Example: mlsys local token --as service -e dev")
def token(
    identity: Annotated[
        str, typer.Option("--as", help="service, function, job or promoter (or promoter@prod)")
    ],
    env: Annotated[
        str, typer.Option("--env", "-e", help="dev, staging or prod (default: MLSYS_ENV)")
    ] = "",
) -> None:
    """Print a bearer token that acts as IDENTITY on the local stack (as `gcloud auth
    print-access-token --impersonate-service-account` does on Google Cloud)."""
    from mlsys.local.identities import token_for
    from mlsys.settings import check_env, get_settings

    try:
        value = token_for(identity, check_env(env) if env else get_settings().mlsys_env)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    typer.echo(value)


@app.command("replay-dead-letters", epilog="Example: mlsys local replay-dead-letters")
def replay_dead_letters() -> None:
    """Hand the dead-lettered events back to the bridge, which delivers them again."""
    from mlsys.local.spool import replay_dead_letters as replay

    moved = replay(_stack().state_dir / "events")
    console.print(f"{moved} dead-lettered event(s) queued for delivery again")


def _print_env(env: dict[str, str]) -> None:
    for key, value in env.items():
        console.print(f"  [dim]{key}[/]={value}")
