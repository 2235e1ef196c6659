"""The body of an online prediction, checked against the features (no emulator needed)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression

from mlsys.errors import InvalidBody, InvalidInstances, TooManyInstances
from mlsys.examples import titanic
from mlsys.online.instances import check_instances, parse_body
from mlsys.predict.features import (
    Feature,
    FeaturePlan,
    columns_input,
    model_input,
    plan_features,
)

PLAN = FeaturePlan(
    features=(
        Feature("Pclass", "numeric", "int64"),
        Feature("Age", "numeric", "float64"),
        Feature("Sex", "text", "object"),
        Feature("vip", "numeric", "bool"),
        Feature("anything"),
    ),
    as_frame=True,
)
ROW = {"Pclass": 3, "Age": 22.0, "Sex": "male", "vip": False, "anything": "x"}


def check(body: object, *, refuse_extra: bool = False, max_instances: int = 10):
    raw = parse_body(json.dumps(body).encode(), max_instances=max_instances)
    return check_instances(raw, PLAN, refuse_extra=refuse_extra)


def test_both_forms_give_the_same_columns_in_feature_order():
    rows = [ROW, {**ROW, "Age": None, "Sex": None}]
    by_rows = check({"instances": rows})
    names = list(reversed(list(ROW)))  # any column order
    by_columns = check({"columns": names, "data": [[r[n] for n in names] for r in rows]})
    assert by_rows == by_columns
    assert list(by_rows.columns) == PLAN.names and by_rows.count == 2
    assert by_rows.columns["Age"] == [22.0, None] and by_rows.columns["Sex"] == ["male", None]
    assert by_rows.columns["Pclass"] == [3.0, 3.0]  # numbers as floats, as the batch path reads
    assert by_rows.columns["vip"] == [0.0, 0.0]  # a boolean feature takes JSON booleans


def test_nan_from_a_python_client_is_a_missing_value():
    raw = parse_body(
        b'{"instances": [{"Pclass": 1, "Age": NaN, "Sex": "f", "vip": true, "anything": 1}]}',
        max_instances=10,
    )
    assert check_instances(raw, PLAN, refuse_extra=False).columns["Age"] == [None]


def test_the_model_input_follows_the_batch_paths_rules():
    x = columns_input(check({"instances": [ROW, {**ROW, "Age": None, "Sex": None}]}).columns, PLAN)
    assert list(x.columns) == PLAN.names
    assert [str(t) for t in x.dtypes][:2] == ["float64", "float64"]
    assert str(x.dtypes["Sex"]) == str(x.dtypes["anything"])  # pandas' text dtype, as in batch
    assert np.isnan(x["Age"][1]) and pd.isna(x["Sex"][1])  # NaN: what imputers see as missing


def test_online_and_batch_inputs_give_the_model_the_same_answers():
    df = titanic.load_csv()
    train, test = titanic.split(df)
    model = titanic.build_pipeline().fit(train[titanic.FEATURES], train[titanic.TARGET])
    plan = plan_features(model, {"features": titanic.feature_schema(df)})
    frame = test[titanic.FEATURES]  # NULL Age and Embarked included
    body = {"instances": frame.astype(object).where(frame.notna(), None).to_dict("records")}
    raw = parse_body(json.dumps(body).encode(), max_instances=1000)
    online = columns_input(check_instances(raw, plan, refuse_extra=False).columns, plan)
    batch = model_input(pa.RecordBatch.from_pandas(frame, preserve_index=False), plan)
    np.testing.assert_array_equal(model.predict_proba(online), model.predict_proba(batch))
    matrix_plan = plan_features(LinearRegression(), {"features": ["a", "b"]})
    assert columns_input({"a": [1.0, None], "b": [2.0, 3.0]}, matrix_plan).tolist() == [
        [1.0, 2.0],
        [pytest.approx(np.nan, nan_ok=True), 3.0],
    ]


def _inferred_frame(columns: dict[str, list], plan: FeaturePlan) -> pd.DataFrame:
    """The model's input as pandas infers it from Python columns (what the online path built
    before it typed the columns itself)."""
    data = {}
    for f in plan.features:
        values = [np.nan if v is None else v for v in columns[f.name]]
        floats = f.kind == "numeric" or (
            f.kind is None and all(type(v) is float for v in columns[f.name] if v is not None)
        )
        data[f.name] = np.array(values, dtype=np.float64 if floats else object)
    return pd.DataFrame(data)


@pytest.mark.parametrize(
    "rows",
    [
        [ROW],
        [ROW, {**ROW, "Age": None, "Sex": None, "anything": None}],
        [{**ROW, "Sex": None, "anything": None}],  # a text column with no value at all
        [{**ROW, "anything": True}, {**ROW, "anything": None}],  # booleans: not text
        [{**ROW, "anything": 2.5}, {**ROW, "anything": None}],  # numbers: floats
        [{**ROW, "Sex": "é ü 中"}] * 3,
    ],
)
def test_the_model_input_is_the_frame_pandas_would_infer(rows):
    columns = check({"instances": rows}).columns
    x = columns_input(columns, PLAN)
    expected = _inferred_frame(columns, PLAN)
    # The same values and dtypes ("str" for text, as pandas 3 infers it), text stored as Python
    # objects rather than Arrow (cheaper for a few rows: features._text_dtype)
    pd.testing.assert_frame_equal(x, expected, check_exact=True, check_dtype=False)
    assert {k: str(v) for k, v in x.dtypes.items()} == {
        k: str(v) for k, v in expected.dtypes.items()
    }
    assert all(dtype.storage == "python" for dtype in x.dtypes if isinstance(dtype, pd.StringDtype))
    assert x.columns.dtype == expected.columns.dtype and isinstance(x.index, pd.RangeIndex)
    x.columns.name = "changed"  # each frame has its own Index object
    assert columns_input(columns, PLAN).columns.name is None


def test_extra_fields_are_ignored_or_refused_by_the_setting():
    body = {"instances": [{**ROW, "customer_id": 7}]}
    assert "customer_id" not in check(body).columns
    with pytest.raises(InvalidInstances, match="'customer_id': unknown field") as info:
        check(body, refuse_extra=True)
    assert info.value.details["fields"] == ["customer_id"]


def test_every_bad_field_of_every_instance_is_named():
    rows = [
        {**ROW, "Age": "old"},
        {**ROW, "Sex": 1},
        {k: v for k, v in ROW.items() if k != "Pclass"},
    ]
    with pytest.raises(InvalidInstances) as info:
        check({"instances": rows})
    error = info.value
    assert error.details["fields"] == ["Age", "Pclass", "Sex"]
    assert "instance 0 'Age': expected a number, found string \"old\"" in error.message
    assert "instance 1 'Sex': expected a string, found number 1" in error.message
    assert "instance 2 'Pclass': missing" in error.message
    assert "The model takes Pclass (number), Age (number), Sex (string)" in error.message


def test_a_misspelt_field_is_pointed_at():
    row = {k: v for k, v in ROW.items() if k != "Pclass"} | {"pclass": 1}
    with pytest.raises(InvalidInstances, match="'Pclass': missing \\(found 'pclass'\\)"):
        check({"instances": [row]})


def test_a_feature_without_a_declared_type_takes_one_type():
    rows = [ROW, {**ROW, "anything": 2}]
    with pytest.raises(InvalidInstances, match="instance 1 'anything': found a number, but"):
        check({"instances": rows})


def test_long_lists_of_problems_are_cut_in_the_message_but_kept_in_details():
    rows = [{"Age": "x"}] * 5
    with pytest.raises(InvalidInstances, match=r"and 15 more \(details\.problems\)") as info:
        check({"instances": rows})
    assert len(info.value.details["problems"]) == 25


@pytest.mark.parametrize(
    ("body", "error", "expected"),
    [
        (b"{not json", InvalidBody, "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, InvalidBody, "nests too deep"),
        (b"[1, 2]", InvalidBody, "JSON array: expected"),
        (b'{"rows": []}', InvalidBody, "no 'instances' \\(keys: 'rows'\\)"),
        (b'{"instances": {"Age": 1}}', InvalidBody, "'instances' is a JSON object"),
        (b'{"instances": []}', InvalidBody, "no instances"),
        (b'{"instances": [1]}', InvalidBody, "instances\\[0\\] is a JSON number"),
        (b'{"columns": ["Age"]}', InvalidBody, "'data' is a JSON null"),
        (b'{"columns": "Age", "data": [[1]]}', InvalidBody, "'columns' must be a list"),
        (b'{"columns": ["a", "a"], "data": [[1, 2]]}', InvalidBody, "names a more than once"),
        (b'{"columns": ["a"], "data": [[1, 2]]}', InvalidBody, "data\\[0\\] has 2 values"),
        (b'{"instances": [{}, {}, {}]}', TooManyInstances, "3 instances .* at most 2"),
    ],
)
def test_malformed_bodies_say_what_was_expected(body, error, expected):
    with pytest.raises(error, match=expected):
        parse_body(body, max_instances=2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 'expected a number, found string "3"'),
        (True, "expected a number, found boolean true"),
        ([1], "expected a single value, found array"),
        ({"v": 1}, "expected a single value, found object"),
        (10**400, "expected a finite number, found 1000000"),
    ],
)
def test_wrong_types_for_a_number(value, expected):
    with pytest.raises(InvalidInstances, match=expected.replace("[", "\\[")):
        check({"instances": [{**ROW, "Pclass": value}]})


def test_infinity_is_not_a_feature_value():
    raw = parse_body(
        b'{"instances": [{"Pclass": Infinity, "Age": 1, "Sex": "m", "vip": true, "anything": 1}]}',
        max_instances=10,
    )
    with pytest.raises(InvalidInstances, match="expected a finite number, found Infinity"):
        check_instances(raw, PLAN, refuse_extra=False)


def test_the_titanic_features_come_from_its_metadata():
    df = titanic.load_csv()
    plan = plan_features(titanic.build_pipeline(), {"features": titanic.feature_schema(df)})
    row = df[titanic.FEATURES].iloc[0].to_dict()
    checked = check_instances(
        parse_body(json.dumps({"instances": [row]}).encode(), max_instances=1),
        plan,
        refuse_extra=True,
    )
    assert checked.columns["Sex"] == [row["Sex"]]
