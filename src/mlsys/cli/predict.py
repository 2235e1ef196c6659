"""``mlsys predict``: a prediction job from the command line, with a progress bar."""

from __future__ import annotations

from typing import Annotated

import typer

from mlsys.cli import console

#: The example in each command's help (mlsys.cli registers the commands with it).
EXAMPLES = {
    "predict": (
        "Example: mlsys predict --model titanic-survival --version champion -e prod "
        "--input my-project.sales.passengers --output my-project.mlsys_predictions_prod.survival"
    ),
}


def predict(
    input_table: Annotated[str, typer.Option("--input", help="project.dataset.table to read")],
    output_table: Annotated[str, typer.Option("--output", help="project.dataset.table to write")],
    model_name: Annotated[str, typer.Option("--model", help="registered model name")],
    model_version: Annotated[
        str, typer.Option("--version", help="vN, N, latest or an alias")
    ] = "latest",
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="dev, staging or prod (default: MLSYS_ENV)")
    ] = None,
    id_columns: Annotated[
        list[str] | None,
        typer.Option("--id-column", help="copy to the output (repeat; default: non-features)"),
    ] = None,
    write_disposition: Annotated[
        str, typer.Option("--write-disposition", help="append or truncate")
    ] = "append",
    job_id: Annotated[
        str | None, typer.Option(help="reuse to retry a job without duplicating rows")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="service (runs to completion, here in this process) or job (a Cloud Run Job "
            "execution): the API's names"
        ),
    ] = "service",
    tasks: Annotated[int, typer.Option(help="shards of the job engine", min=1)] = 1,
    allow_archived: Annotated[
        bool, typer.Option("--allow-archived", help="predict with an archived version anyway")
    ] = False,
    shadow_version: Annotated[
        str | None,
        typer.Option(help="a challenger version scoring the same rows into OUTPUT__shadow"),
    ] = None,
) -> None:
    """Predict every row of --input with a registered model into --output (streamed)."""
    from mlsys.errors import InvalidInput
    from mlsys.predict import PredictionRequest
    from mlsys.settings import get_settings

    # earlier releases' names: `local` (this CLI's) and `cloud-run-job` (the API's)
    engine = {"cloud-run-job": "job", "local": "service"}.get(engine, engine)
    if engine not in ("service", "job"):
        raise InvalidInput(f"engine {engine!r}: expected service or job")
    request = PredictionRequest.parse(
        {
            "env": env or get_settings().mlsys_env,
            "input_table": input_table,
            "output_table": output_table,
            "model_name": model_name,
            "model_version": model_version,
            "id_columns": id_columns or None,
            "write_disposition": write_disposition,
            "job_id": job_id,
            "engine": engine,
            "tasks": tasks,
            "allow_archived": allow_archived,
            "shadow_version": shadow_version,
        }
    )
    if engine == "job":
        _launch(request)
    else:
        _run_here(request)


def _launch(request: object) -> None:
    from mlsys.predict import submit

    with console.status("checking the request and starting the job execution..."):
        record = submit(request).record  # type: ignore[arg-type]
    console.print(
        f"[green]✓[/] job [cyan]{record.job_id}[/]: {record.status}, execution "
        f"{record.execution or '-'} ({record.tasks} task(s)); follow it with "
        f"GET /jobs/{record.job_id}"
    )


def _run_here(request: object) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from mlsys.predict.engines import run_here
    from mlsys.predict.plan import plan

    with console.status("checking the request and loading the model..."):
        planned = plan(request)  # type: ignore[arg-type]
    with Progress(
        TextColumn("[bold]predicting[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("predict", total=planned.plan.rows_total)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        record = run_here(planned, progress=progress)
        bar.update(task, completed=record.rows_done, total=record.rows_total or record.rows_done)
    console.print(
        f"[green]✓[/] job [cyan]{record.job_id}[/]: {record.rows_written:,} rows of "
        f"{record.model_name} v{record.model_version} in [cyan]{record.output_table}[/]"
    )
    from mlsys.cli.monitor import print_job_monitoring

    print_job_monitoring(record.env, record)
