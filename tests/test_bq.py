"""mlsys.bq against bqemulator (real google-cloud-bigquery client over HTTP)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from google.cloud import bigquery

from mlsys.bq import bq_get, bq_put
from mlsys.errors import InvalidInput, InvalidTableId, TableNotFound


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": pd.array([1, 2, 3], dtype="Int64"),
            "name": ["a", None, "ç"],
            "score": [0.5, np.nan, 2.25],
            "flag": pd.array([True, None, False], dtype="boolean"),
            "at": pd.to_datetime(["2026-01-01T00:00:00Z", None, "2026-06-30T12:34:56Z"], utc=True),
        }
    )


def test_dataframe_roundtrip_keeps_nulls_timestamps_strings(dev_dataset, unique):
    table = f"{dev_dataset}.rt_{unique}"
    assert bq_put(_frame(), table, "WRITE_TRUNCATE") == 3
    out = bq_get(f"SELECT * FROM `{table}` ORDER BY id").reset_index(drop=True)
    assert out["id"].tolist() == [1, 2, 3]
    assert (
        out["name"].iloc[0] == "a" and pd.isna(out["name"].iloc[1]) and out["name"].iloc[2] == "ç"
    )
    assert out["score"].iloc[0] == 0.5 and pd.isna(out["score"].iloc[1])
    assert out["flag"].iloc[0] is np.True_ or out["flag"].iloc[0] == True  # noqa: E712
    assert pd.isna(out["flag"].iloc[1])
    assert out["at"].iloc[2] == pd.Timestamp(dt.datetime(2026, 6, 30, 12, 34, 56, tzinfo=dt.UTC))
    assert pd.isna(out["at"].iloc[1])


def test_append_and_truncate(dev_dataset, unique):
    table = f"{dev_dataset}.wd_{unique}"
    bq_put(_frame(), table)
    bq_put(_frame(), table, "WRITE_APPEND")
    assert bq_get(f"SELECT COUNT(*) AS n FROM `{table}`")["n"].iloc[0] == 6
    bq_put(_frame().head(1), table, "WRITE_TRUNCATE")
    assert bq_get(f"SELECT COUNT(*) AS n FROM `{table}`")["n"].iloc[0] == 1


def test_query_parameters(dev_dataset, unique):
    table = f"{dev_dataset}.qp_{unique}"
    bq_put(_frame(), table)
    out = bq_get(
        f"SELECT id FROM `{table}` WHERE name = @name",
        [bigquery.ScalarQueryParameter("name", "STRING", "ç")],
    )
    assert out["id"].tolist() == [3]


def test_missing_table_is_a_clear_error(dev_dataset, unique):
    with pytest.raises(TableNotFound, match=f"nope_{unique}"):
        bq_get(f"SELECT * FROM `{dev_dataset}.nope_{unique}`")


def test_missing_dataset_on_load_is_a_clear_error(settings, unique):
    with pytest.raises(TableNotFound, match=f"ds_{unique}"):
        bq_put(_frame(), f"{settings.gcp_project_id}.ds_{unique}.t")


@pytest.mark.parametrize(
    "table_id",
    ["", "just_a_table", "p.d.t; DROP TABLE x", "a.b.c.d", "Bad_Project.d.t", "p-roject.da-ta.t"],
)
def test_malformed_table_id_is_rejected_before_any_call(table_id):
    with pytest.raises(InvalidTableId):
        bq_put(_frame(), table_id)


def test_unknown_write_disposition(dev_dataset, unique):
    with pytest.raises(InvalidInput, match="WRITE_APPEND"):
        bq_put(_frame(), f"{dev_dataset}.x_{unique}", "OVERWRITE_PLEASE")
