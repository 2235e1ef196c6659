"""``mlsys schedules list``: the scheduled predictions declared in ``schedules.yaml``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mlsys.cli import console
from mlsys.cli.tables import Col, print_table

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
    rows = []
    for s in schedules:
        envs = [env] if env else list(s.envs)
        rows.append(
            [
                s.name,
                ", ".join(s.envs),
                s.cron,
                f"{s.model}@{s.version}",
                f"{s.input_table}\n-> {s.output_table}",
                str(s.tasks),
                "\n".join(s.job_name(e) for e in envs),
            ]
        )
    cols = [
        Col("name", key=True),
        Col("envs", text=True, drop=3),
        Col("cron (UTC)", text=True),
        Col("model", key=True),
        Col("input -> output", text=True, drop=1),
        Col("tasks", drop=4),
        Col("scheduler jobs", text=True, drop=2),
    ]
    print_table(console, cols, rows, show_lines=True)
