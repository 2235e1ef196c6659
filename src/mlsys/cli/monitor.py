"""``mlsys monitor MODEL``: the drift of a model's latest prediction jobs, per feature."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from mlsys.cli import console

#: The example in each command's help (mlsys.cli registers the commands with it).
EXAMPLES = {
    "monitor": "Example: mlsys monitor titanic-survival -e prod --jobs 10",
}


STYLE = {"ok": "green", "warn": "yellow", "alert": "bold red"}


if TYPE_CHECKING:
    from mlsys.predict.records import JobRecord


def _status(status: str | None) -> str:
    return f"[{STYLE.get(status or '', 'dim')}]{status or '-'}[/]"


def monitor(
    model: Annotated[str, typer.Argument(help="registered model name")],
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="dev, staging or prod (default: MLSYS_ENV)")
    ] = None,
    jobs: Annotated[int, typer.Option(help="how many of the latest jobs", min=1, max=50)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show the drift of MODEL's latest prediction jobs: PSI and status per feature and job."""
    from mlsys.monitoring.reports import drift_by_feature
    from mlsys.monitoring.store import model_drift
    from mlsys.registry.contract import check_model_name
    from mlsys.settings import get_settings

    env = env or get_settings().mlsys_env
    rows = model_drift(env, check_model_name(model), jobs=jobs)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    if not rows:
        console.print(
            f"no drift recorded for {model} in {env}: drift is measured by prediction jobs of "
            "versions logged with mlsys.log_model (they carry a reference profile)"
        )
        return
    job_ids = list(dict.fromkeys(r.job_id for r in rows))
    versions = {r.job_id: r.model_version for r in rows}
    table = Table(
        "feature",
        "kind",
        title=f"drift of {model} in {env}: PSI and status per job, oldest first",
        box=box.SIMPLE,
    )
    for job_id in job_ids:
        table.add_column(f"…{job_id[-8:]}\nv{versions[job_id]}", justify="right", no_wrap=True)
    table.add_column("nulls (ref)", justify="right", no_wrap=True)
    for feature, found in drift_by_feature(rows).items():
        by_job = {r.job_id: r for r in found}
        cells = []
        for job_id in job_ids:
            r = by_job.get(job_id)
            psi = "-" if r is None or r.psi is None else f"{r.psi:.2f}"
            cells.append("" if r is None else f"{psi} {_status(r.status)}")
        last = found[-1]
        nulls = f"{last.null_rate or 0:.0%} ({last.reference_null_rate or 0:.0%})"
        kind = {"numeric": "num", "categorical": "cat"}.get(found[0].kind or "", "")
        table.add_row(feature, kind, *cells, nulls)
    console.print(table)
    console.print(f"thresholds: monitoring.yaml ({get_settings().monitoring_config})")


def print_job_monitoring(env: str, record: JobRecord) -> None:
    """The drift status and shadow comparison of a finished job, in a few lines."""
    from mlsys.monitoring.reports import job_report

    report = job_report(env, record)
    if report.drift:
        flagged = [
            f"{r.feature} psi {r.psi:.2f}"
            for r in report.drift
            if r.status != "ok" and r.psi is not None
        ]
        more = f": {', '.join(flagged)}" if flagged else ""
        follow = f"mlsys monitor {record.model_name} --env {env}"
        console.print(f"drift: {_status(report.drift_status)}{more} ({follow})")
    elif record.status == "succeeded":
        console.print(
            f"drift: [dim]none measured[/] (v{record.model_version} has no reference profile)"
        )
    shadow = report.shadow
    if shadow is not None:
        what = "same label" if shadow.agreement_metric == "label_agreement" else "mean |difference|"
        value = "-" if shadow.shadow_agreement is None else f"{shadow.shadow_agreement:.3f}"
        console.print(
            f"shadow v{shadow.shadow_version}: {what} {value} over {shadow.rows or 0:,} rows, "
            f"predictions in [cyan]{shadow.shadow_table}[/]"
        )
