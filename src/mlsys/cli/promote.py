"""``mlsys promote``, ``mlsys rollback`` and ``mlsys archive``: the release manager's commands."""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from mlsys.cli import console
from mlsys.cli.tables import Col, fit_table

#: The example in each command's help (mlsys.cli registers the commands with it).
EXAMPLES = {
    "promote": "Example: mlsys promote titanic-survival v2 --from dev --to staging --dry-run",
    "rollback": "Example: mlsys rollback titanic-survival -e prod",
    "archive": "Example: mlsys archive titanic-survival v1 -e dev",
}


if TYPE_CHECKING:
    from mlsys.promote import GateResult
    from mlsys.promote.promotion import PromotionResult

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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: the outcome and every gate's verdict")
    ] = False,
) -> None:
    """Promote a version one step (dev -> staging -> prod) behind its gates."""
    from mlsys.promote import load_config
    from mlsys.promote import promote as run

    gates: list[GateResult] = []
    title = f"gates: {model} {version} {from_env} -> {to_env}"
    result = None
    try:
        with (
            console.status(f"checking {model} {version} for {to_env}...")
            if not as_json
            else nullcontext()
        ):
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
        if as_json:  # on a refusal too: the gates say why (the error follows on stderr)
            console.print_json(
                json.dumps(_as_json(model, version, from_env, to_env, gates, result))
            )
        elif gates:
            console.print(gate_table(gates, title))
    if as_json:
        return
    assert result is not None
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
    """Each gate's verdict and evidence, one row per gate (fitted to the terminal)."""
    cols = [Col("gate", key=True), Col("result", key=True), Col("evidence", text=True)]
    rows = [[gate.gate, _STATUS[gate.status], gate.evidence] for gate in gates]
    return fit_table(cols, rows, console=console, title=title, show_lines=True)[0]


def _as_json(
    model: str,
    version: str,
    from_env: str,
    to_env: str,
    gates: list[GateResult],
    result: PromotionResult | None,
) -> dict[str, Any]:
    return {
        "model_name": model,
        "version": version,
        "from_env": from_env,
        "to_env": to_env,
        "outcome": result.outcome if result is not None else "refused",
        "message": result.message if result is not None else None,
        "gates": [g.to_dict() for g in gates],
        "copied": list(result.copy.copied) if result is not None and result.copy else [],
    }
