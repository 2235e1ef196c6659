"""``mlsys predict``: the service's pipeline from the command line, with a progress bar."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mlsys.cli import console


def predict(
    input_table: Annotated[str, typer.Option("--input", help="project.dataset.table to read")],
    output_table: Annotated[str, typer.Option("--output", help="project.dataset.table to write")],
    model_name: Annotated[str, typer.Option("--model", help="registered model name")],
    model_version: Annotated[
        str, typer.Option("--version", help="vN, N, latest or an alias")
    ] = "latest",
    env: Annotated[str, typer.Option(help="dev, staging or prod")] = "dev",
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
        str, typer.Option(help="local (this process) or cloud-run-job (sharded tasks)")
    ] = "local",
    tasks: Annotated[int, typer.Option(help="tasks of the cloud-run-job engine", min=1)] = 1,
    allow_archived: Annotated[
        bool, typer.Option("--allow-archived", help="predict with an archived version anyway")
    ] = False,
    shadow_version: Annotated[
        str | None,
        typer.Option(help="a challenger version scoring the same rows into OUTPUT__shadow"),
    ] = None,
) -> None:
    """Predict every row of --input with a registered model into --output (streamed)."""
    request: dict[str, Any] = {
        "env": env,
        "input_table": input_table,
        "output_table": output_table,
        "model_name": model_name,
        "model_version": model_version,
        "id_columns": id_columns or None,
        "write_disposition": write_disposition.lower().removeprefix("write_"),
        "job_id": job_id,
        "allow_archived": allow_archived,
    }
    if engine == "cloud-run-job":
        from mlsys.jobs import launch

        if shadow_version is not None:
            from mlsys.errors import InvalidInput

            raise InvalidInput("--shadow-version needs --engine local: sharded jobs do not shadow")

        with console.status(f"checking the request and starting {tasks} Cloud Run tasks..."):
            started = launch(**request, tasks=tasks)
        console.print(
            f"[green]✓[/] job [cyan]{started.job_id}[/]: execution {started.execution} "
            f"({tasks} tasks); follow it with GET /jobs/{started.job_id}"
        )
        return
    if engine != "local":
        from mlsys.errors import InvalidInput

        raise InvalidInput(f"engine {engine!r}: expected local or cloud-run-job")
    from mlsys.predict import prepare_prediction
    from mlsys.predict.pipeline import execute

    with console.status("checking the request and loading the model..."):
        job = prepare_prediction(**request, shadow_version=shadow_version)
    if job.reused:
        console.print(f"[yellow]job {job.record.job_id} already published[/]: nothing to do")
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
        task = bar.add_task("predict", total=job.record.rows_total)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        record = execute(job, progress=progress)
        bar.update(task, completed=record.rows_done, total=record.rows_total or record.rows_done)
    console.print(
        f"[green]✓[/] job [cyan]{record.job_id}[/]: {record.rows_written:,} rows of "
        f"{record.model_name} v{record.model_version} in [cyan]{record.output_table}[/]"
    )
    from mlsys.cli.monitor import print_job_monitoring

    print_job_monitoring(env, record)
