"""In-warehouse prediction: a registered scikit-learn model as a BigQuery ML ONNX model.

For tables too large to move, :func:`export_bqml` converts a registered version to ONNX
(skl2onnx, ZipMap off so probabilities are a plain tensor BigQuery can read), uploads it, and
builds the ``CREATE OR REPLACE MODEL ... OPTIONS(MODEL_TYPE='ONNX', MODEL_PATH=...)`` and
``ML.PREDICT`` statements. Every name in them is validated (model name, version number, bucket,
dataset, table, feature columns): no user text is pasted into SQL.

Where the ONNX file goes: ``gs://{models bucket}/{model}/v{N}/exports/bqml.onnx``, next to the
artifact. The registry contract keeps ``exports/`` for derived files: the function records the
upload with its hash but it never becomes a version (only ``model.*`` does).
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlsys.errors import ConfigError, TableNotFound, UnsupportedFormat
from mlsys.identifiers import TableRef, check_column, parse_table_id
from mlsys.predict.features import Feature, FeaturePlan, plan_features
from mlsys.settings import check_env, get_settings

log = logging.getLogger(__name__)

#: The export's file name inside the version's ``exports/`` folder (see the module docstring).
EXPORT_FILE = "bqml.onnx"
#: Opsets BigQuery ML's ONNX import accepts (skl2onnx picks the ops within them).
TARGET_OPSET = {"": 15, "ai.onnx.ml": 3}
_GCS_URI = re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}/[A-Za-z0-9._/-]{1,900}$")


@dataclass(frozen=True)
class BqmlExport:
    """An exported version: where the ONNX file is and the SQL that uses it."""

    model_name: str
    version: int
    onnx_uri: str
    bq_model: str
    create_model_sql: str
    predict_sql: str
    converted: bool  # False when the artifact already was ONNX and is used as is
    env: str = "dev"


def export_path(model_name: str, version: int) -> str:
    return f"{model_name}/v{int(version)}/exports/{EXPORT_FILE}"


# -- conversion -------------------------------------------------------------------------------
def to_onnx(model: Any, features: FeaturePlan) -> bytes:
    """The model as ONNX with ONE named input per feature column (what BigQuery ML maps
    columns to) and, for classifiers, ``label`` + ``probabilities`` tensors (no ZipMap)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    from mlsys.predict.scoring import final_estimator

    graph_model = _onnx_ready(model, features)
    types = []
    for feature in features.features:
        kind = _kind(feature)
        tensor = StringTensorType([None, 1]) if kind == "text" else FloatTensorType([None, 1])
        types.append((check_column(feature.name), tensor))
    estimator = final_estimator(graph_model)
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    try:
        onx = convert_sklearn(
            graph_model, initial_types=types, options=options, target_opset=TARGET_OPSET
        )
    except Exception as exc:  # skl2onnx raises many types for unsupported parts
        raise UnsupportedFormat(
            f"the model does not convert to ONNX ({type(exc).__name__}: {exc}); in-warehouse "
            "prediction needs a model skl2onnx supports"
        ) from None
    return bytes(onx.SerializeToString())


def _onnx_ready(model: Any, features: FeaturePlan) -> Any:
    """A copy of ``model`` that skl2onnx converts to per-column inputs, predicting the same.

    - A model that takes a matrix gets a pass-through ColumnTransformer in front (one ONNX
      input per column, concatenated in feature order).
    - A string SimpleImputer fitted with ``missing_values=NaN`` (the usual pandas case) is
      switched to ``""``: ONNX strings cannot be NaN, and the ``ML.PREDICT`` statement sends
      NULL strings as ``''`` — same rows imputed, same statistics.
    """
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    ready = copy.deepcopy(model)
    for imputer in _string_imputers(ready):
        imputer.missing_values = ""
    if _takes_columns(ready):
        return ready
    names = features.names
    columns = ColumnTransformer([("columns", "passthrough", names)])
    columns.fit(pd.DataFrame({name: [0.0] for name in names}))
    return Pipeline([("columns", columns), ("model", ready)])


def _takes_columns(model: Any) -> bool:
    from sklearn.compose import ColumnTransformer

    if isinstance(model, ColumnTransformer):
        return True
    steps = getattr(model, "steps", None) or []
    return bool(steps) and _takes_columns(steps[0][1])


def _string_imputers(model: Any) -> list[Any]:
    from sklearn.impute import SimpleImputer

    if isinstance(model, SimpleImputer):
        stats = getattr(model, "statistics_", None)
        missing = model.missing_values
        is_nan = isinstance(missing, float) and missing != missing
        return [model] if stats is not None and stats.dtype == object and is_nan else []
    found = []
    for attr in ("steps", "transformers_"):
        for item in getattr(model, attr, None) or []:
            found += _string_imputers(item[1])
    return found


def _kind(feature: Feature) -> str:
    if feature.kind is None:
        raise UnsupportedFormat(
            f"feature {feature.name!r} has no dtype: declare features as {{name, dtype}} in "
            "metadata.json so the ONNX inputs get the right types"
        )
    return feature.kind


# -- SQL ----------------------------------------------------------------------------------------
def bq_model_ref(project: str, dataset: str, model_name: str, version: int) -> TableRef:
    """``project.dataset.{model}_v{N}`` (hyphens become underscores), validated."""
    return parse_table_id(f"{project}.{dataset}.{model_name.replace('-', '_')}_v{int(version)}")


def create_model_sql(model: TableRef, onnx_uri: str) -> str:
    if not _GCS_URI.match(onnx_uri):
        raise ConfigError(f"not a plain gs:// URI: {onnx_uri!r}")
    return (
        f"CREATE OR REPLACE MODEL {model.sql}\n"
        f"OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = '{onnx_uri}')"
    )


def predict_sql(
    model: TableRef, input_table: TableRef, features: FeaturePlan, keep: Sequence[str] = ()
) -> str:
    """``ML.PREDICT`` over the input's feature columns, typed as the ONNX inputs expect:
    numbers as FLOAT64 (NULL -> NaN, which the model's imputers handle), strings with NULL as
    ``''``; the ``keep`` columns (ids, for joining back) are passed through."""
    selected = [f"`{check_column(name)}`" for name in keep]
    for feature in features.features:
        name = check_column(feature.name)
        if _kind(feature) == "text":
            selected.append(f"IFNULL(CAST(`{name}` AS STRING), '') AS `{name}`")
        else:
            selected.append(
                f"IFNULL(CAST(`{name}` AS FLOAT64), CAST('NaN' AS FLOAT64)) AS `{name}`"
            )
    columns = ",\n    ".join(selected)
    return (
        f"SELECT *\nFROM ML.PREDICT(\n  MODEL {model.sql},\n"
        f"  (SELECT\n    {columns}\n   FROM {input_table.sql}))"
    )


# -- the export -----------------------------------------------------------------------------
def export_bqml(
    env: str,
    model_name: str,
    version: str | int,
    *,
    input_table: str | None = None,
    dataset: str | None = None,
) -> BqmlExport:
    """Convert a registered version to ONNX, upload it and build the BigQuery ML statements.

    ``input_table`` defaults to the metadata's ``training_data``; ``dataset`` (where the
    BigQuery model lives) to the env's registry dataset ``mlsys_{env}``.
    """
    from mlsys.artifacts import ArtifactRef, load_model
    from mlsys.gcs import gcs_put
    from mlsys.registry import get_version

    check_env(env)
    settings = get_settings()
    mv = get_version(env, model_name, version)
    bucket = settings.bucket_for(env)
    loaded = load_model(ArtifactRef.from_version(mv), allowed_bucket=bucket)
    metadata = mv.metadata or ({"features": mv.features} if mv.features else None)
    features = plan_features(loaded.model, metadata)
    if mv.artifact_format == "onnx":  # already ONNX: BigQuery can load the artifact itself
        uri, converted = mv.artifact_uri, False
    else:
        data = to_onnx(loaded.model, features)
        path = export_path(mv.model_name, mv.model_version)
        gcs_put(data, bucket, path, metadata={"mlsys_source": mv.artifact_uri})
        uri, converted = f"gs://{bucket}/{path}", True
    project = settings.project_for(env)
    model_ref = bq_model_ref(
        project, dataset or settings.dataset_for(env), mv.model_name, mv.model_version
    )
    source = input_table or (metadata or {}).get("training_data")
    if not source:
        raise ConfigError(
            "no input table: pass one (the metadata has no training_data to default to)"
        )
    input_ref = parse_table_id(str(source), default_project=project)
    keep = [c for c in _columns_of(input_ref, env) if c not in set(features.names)]
    return BqmlExport(
        model_name=mv.model_name,
        version=mv.model_version,
        onnx_uri=uri,
        bq_model=str(model_ref),
        create_model_sql=create_model_sql(model_ref, uri),
        predict_sql=predict_sql(model_ref, input_ref, features, keep),
        converted=converted,
        env=env,
    )


def _columns_of(table: TableRef, env: str) -> list[str]:
    from google.api_core import exceptions as gexc

    from mlsys.clients import bigquery_client

    try:
        return [f.name for f in bigquery_client(env).get_table(str(table)).schema]
    except gexc.NotFound:
        raise TableNotFound(f"input table {table} does not exist") from None


def run_bqml(export: BqmlExport, *, output_table: str | None = None) -> str | None:
    """Create the BigQuery ML model, then (with ``output_table``) write ML.PREDICT into it.

    Real BigQuery only: the emulator has no BigQuery ML.
    """
    from google.cloud import bigquery

    from mlsys.clients import bigquery_client

    settings = get_settings()
    if settings.bigquery_emulator_host:
        raise ConfigError(
            "--run needs real BigQuery (BigQuery ML): the local emulator cannot create ONNX "
            "models; run the printed statements in the console, or unset the emulator"
        )
    client = bigquery_client(export.env)
    client.query(export.create_model_sql).result()
    if output_table is None:
        return None
    out = parse_table_id(output_table, default_project=settings.project_for(export.env))
    config = bigquery.QueryJobConfig(destination=str(out), write_disposition="WRITE_TRUNCATE")
    client.query(export.predict_sql, job_config=config).result()
    return str(out)
