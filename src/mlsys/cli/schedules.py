"""``mlsys schedules list``: the scheduled predictions declared in ``schedules.yaml``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from mlsys.cli import console

app = typer.Typer(help="Scheduled predictions (schedules.yaml).", no_args_is_help=True)


@app.command("list", epilog="Example: mlsys schedules list -e prod --json")
def list_(
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="only those of dev, staging or prod")
    ] = None,
    path: Annotated[str | None, typer.Option("--file", help="default: schedules.yaml")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List the schedules, their cron, model and tables, and their Cloud Scheduler jobs."""
    from mlsys.schedules import load_schedules, schedules_for

    schedules = load_schedules(path)
    if env is not None:
        schedules = schedules_for(env, schedules)
    if as_json:
        console.print_json(json.dumps([s.model_dump(mode="json") for s in schedules]))
        return
    table = Table(
        "name", "envs", "cron (UTC)", "model", "input -> output", "tasks", "scheduler jobs"
    )
    for s in schedules:
        envs = [env] if env else list(s.envs)
        table.add_row(
            s.name,
            ", ".join(s.envs),
            s.cron,
            f"{s.model}@{s.version}",
            f"{s.input_table} -> {s.output_table}",
            str(s.tasks),
            ", ".join(s.job_name(e) for e in envs),
        )
    console.print(table)
