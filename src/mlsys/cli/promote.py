"""``mlsys promote``, ``mlsys rollback`` and ``mlsys archive``: the release manager's commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mlsys.cli import console

#: The example in each command's help (mlsys.cli registers the commands with it).
EXAMPLES = {
    "promote": "Example: mlsys promote titanic-survival v2 --from dev --to staging --dry-run",
    "rollback": "Example: mlsys rollback titanic-survival -e prod",
    "archive": "Example: mlsys archive titanic-survival v1 -e dev",
}


if TYPE_CHECKING:
    from mlsys.promote import GateResult

_STATUS = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skip": "[yellow]skip[/]"}


def promote(
    model: Annotated[str, typer.Argument(help="Model name")],
    version: Annotated[str, typer.Argument(help="Version: vN or N")],
    from_env: Annotated[str, typer.Option("--from", help="Source environment: dev or staging")],
    to_env: Annotated[str, typer.Option("--to", help="Target environment: staging or prod")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Run and show the gates; copy nothing")
    ] = False,
    config: Annotated[
        str | None, typer.Option(help="Promotion config (default: MLSYS_PROMOTION_CONFIG)")
    ] = None,
) -> None:
    """Promote a version one step (dev -> staging -> prod) behind its gates."""
    from mlsys.promote import load_config
    from mlsys.promote import promote as run

    gates: list[GateResult] = []
    title = f"gates: {model} {version} {from_env} -> {to_env}"
    try:
        with console.status(f"checking {model} {version} for {to_env}..."):
            result = run(
                model,
                version,
                from_env=from_env,
                to_env=to_env,
                dry_run=dry_run,
                config=load_config(config),
                on_gate=gates.append,
            )
    finally:
        if gates:
            console.print(gate_table(gates, title))
    colour = {"promoted": "green", "dry-run": "cyan", "noop": "yellow"}[result.outcome]
    console.print(f"[{colour}]{result.outcome}[/]: {result.message}")
    if result.copy and result.copy.copied:
        for name in result.copy.copied:
            console.print(f"  copied gs://{result.copy.bucket}/{name}")


def rollback(
    model: Annotated[str, typer.Argument(help="Model name")],
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="dev, staging or prod (default: MLSYS_ENV)")
    ] = None,
) -> None:
    """Make the env's `previous` version its champion again."""
    from mlsys.promote import rollback as run
    from mlsys.settings import get_settings

    result = run(model, env=env or get_settings().mlsys_env)
    console.print(f"[green]rolled back[/]: {result.message}")


def archive(
    model: Annotated[str, typer.Argument(help="Model name")],
    version: Annotated[str, typer.Argument(help="Version: vN or N")],
    env: Annotated[
        str | None,
        typer.Option("--env", "-e", help="Only in this env (default: every env it is in)"),
    ] = None,
) -> None:
    """Retire a version: archived, it can no longer be promoted or rolled back to."""
    from mlsys.promote import archive as run

    result = run(model, version, env=env)
    console.print(f"[{'green' if result.changed else 'yellow'}]{result.message}[/]")


def gate_table(gates: list[GateResult], title: str) -> Table:
    """Each gate's verdict and evidence, one row per gate."""
    table = Table("gate", "result", "evidence", title=title, show_lines=True)
    for gate in gates:
        table.add_row(gate.gate, _STATUS[gate.status], gate.evidence)
    return table
