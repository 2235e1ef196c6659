"""``mlsys export-bqml``: a registered model as a BigQuery ML ONNX model (in-warehouse)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlsys.cli import console

#: The example in each command's help (mlsys.cli registers the commands with it).
EXAMPLES = {
    "export-bqml": "Example: mlsys export-bqml titanic-survival v1 -e dev",
}


def export_bqml(
    model_name: Annotated[str, typer.Argument(help="registered model name")],
    version: Annotated[str, typer.Argument(help="vN, N, latest or an alias")],
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="dev, staging or prod (default: MLSYS_ENV)")
    ] = None,
    input_table: Annotated[
        str | None,
        typer.Option("--input", help="table to score (default: the metadata's training_data)"),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="dataset of the BigQuery model (default: mlsys_{env})")
    ] = None,
    run: Annotated[
        bool, typer.Option("--run", help="run the statements (real BigQuery only)")
    ] = False,
    output_table: Annotated[
        str | None, typer.Option("--output", help="with --run: write ML.PREDICT here")
    ] = None,
) -> None:
    """Convert MODEL VERSION to ONNX, upload it, print the CREATE MODEL and ML.PREDICT SQL."""
    from mlsys.bqml import export_bqml as export
    from mlsys.bqml import run_bqml
    from mlsys.settings import get_settings

    env = env or get_settings().mlsys_env

    with console.status("converting to ONNX and uploading..."):
        result = export(env, model_name, version, input_table=input_table, dataset=dataset)
    what = "converted and uploaded" if result.converted else "already ONNX, used as is"
    console.print(f"[green]✓[/] {result.model_name} v{result.version} {what}: {result.onnx_uri}")
    console.print(
        f"\n{result.create_model_sql};\n\n{result.predict_sql};\n", highlight=False, soft_wrap=True
    )
    if run:
        with console.status("creating the BigQuery ML model..."):
            written = run_bqml(result, output_table=output_table)
        console.print(f"[green]✓[/] model {result.bq_model} created")
        if written:
            console.print(f"[green]✓[/] predictions in {written}")
