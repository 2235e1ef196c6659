"""The streaming profiler and the shadow scorer as observers of the real streaming core
(in-memory source and sink: no emulator needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlsys.monitoring.config import MonitoringConfig
from mlsys.monitoring.drift import compare
from mlsys.monitoring.profiler import StreamProfiler
from mlsys.monitoring.reference import build_reference
from mlsys.monitoring.shadow import LABEL_AGREEMENT, MEAN_ABS_DIFF, ShadowScorer, agreement_for
from mlsys.predict.features import plan_features
from mlsys.predict.output import plan_output
from mlsys.predict.sources import MemorySource
from mlsys.predict.staging import MemorySink
from mlsys.predict.stream import predict_stream

FEATURES = ["a", "b", "c"]


def data(n: int, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(0, 1, (n, 3)), columns=FEATURES)
    x["a"] += shift
    x.insert(0, "row_id", np.arange(n))
    return x


def stream(model, frame: pd.DataFrame, observers, chunk_rows: int = 500) -> MemorySink:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    features = plan_features(model, None)
    output = plan_output(
        input_schema=table.schema,
        id_columns=["row_id"],
        model=model,
        model_name="m",
        model_version=1,
        job_id="j",
    )
    sink = MemorySink()
    predict_stream(
        model=model,
        features=features,
        output=output,
        source=MemorySource(table, chunk_rows=chunk_rows),
        sink=sink,
        observers=observers,
    )
    return sink


@pytest.fixture(scope="module")
def model():
    x = data(2000)
    return LogisticRegression().fit(x[FEATURES], (x["a"] + x["b"] > 0).astype(int))


def test_profiling_the_training_rows_again_gives_the_reference_exactly(model):
    x = data(2000)
    reference = build_reference(model, x[FEATURES])
    profiler = StreamProfiler(reference, available=x.columns)
    stream(model, x, [profiler], chunk_rows=333)
    assert profiler.profile().to_json() == reference.to_json()
    rows = compare(reference, profiler.profile(), MonitoringConfig(), model_name="m")
    assert {r.status for r in rows} == {"ok"} and all(r.psi == pytest.approx(0) for r in rows)


def test_a_shifted_feature_alerts_and_the_others_stay_ok(model):
    reference = build_reference(model, data(5000)[FEATURES])
    profiler = StreamProfiler(reference)
    stream(model, data(5000, seed=1, shift=1.5), [profiler])
    status = {
        r.feature: r.status
        for r in compare(reference, profiler.profile(), MonitoringConfig(), model_name="m")
    }
    assert status == {"a": "alert", "b": "ok", "c": "ok", "prediction": "alert"}


def test_a_feature_profiling_cannot_read_is_skipped_not_fatal(model):
    reference = build_reference(model, data(500)[FEATURES])
    profiler = StreamProfiler(reference)
    frame = data(500)
    frame["c"] = frame["c"].map(lambda v: f"text {v}")  # strings where numbers were profiled
    # The model takes a float matrix of a, b, c: feed it a model that ignores c.
    only_ab = LogisticRegression().fit(data(500)[["a", "b"]], (data(500)["a"] > 0).astype(int))
    stream(only_ab, frame, [profiler])
    assert set(profiler.profile().features) == {"a", "b"} and "c" in profiler.skipped


def shadow_scorer(x: pd.DataFrame, champion: Any, challenger: Any, sink: MemorySink) -> Any:
    """A challenger (version 2 of "m") scoring the rows of ``x`` into ``sink``."""
    output = plan_output(
        input_schema=pa.Table.from_pandas(x, preserve_index=False).schema,
        id_columns=["row_id"],
        model=challenger,
        model_name="m",
        model_version=2,
        job_id="j",
    )
    return ShadowScorer(
        model=challenger,
        features=plan_features(challenger, None),
        output=output,
        sink=sink,
        agreement=agreement_for(champion, challenger, None),
    )


def test_the_shadow_scorer_writes_the_same_ids_and_counts_agreement():
    x = data(3000)
    y = (x["a"] + x["b"] > 0).astype(int)
    champion = LogisticRegression().fit(x[FEATURES], y)
    challenger = RandomForestClassifier(n_estimators=5, max_depth=2, random_state=0).fit(
        x[FEATURES], y
    )
    shadow_sink = MemorySink()
    shadow = shadow_scorer(x, champion, challenger, shadow_sink)
    main = stream(champion, x, [shadow])
    assert main.table is not None and shadow_sink.table is not None
    assert shadow_sink.table["row_id"].to_pylist() == main.table["row_id"].to_pylist()
    assert set(shadow_sink.table["model_version"].to_pylist()) == {2}
    found = shadow.comparison()
    same = np.mean(challenger.predict(x[FEATURES]) == champion.predict(x[FEATURES]))
    assert found.metric == LABEL_AGREEMENT and found.rows == 3000
    assert found.agreement == pytest.approx(same, abs=1e-6)
    assert 0.5 < found.agreement < 1.0 and found.js_distance is not None


def test_regressors_are_compared_by_mean_absolute_difference():
    x = data(1000)
    target = x["a"] * 3
    champion = LinearRegression().fit(x[FEATURES], target)
    challenger = LinearRegression().fit(x[FEATURES], target + 2.0)
    shadow = shadow_scorer(x, champion, challenger, MemorySink(keep=False))
    stream(champion, x, [shadow])
    found = shadow.comparison()
    assert found.metric == MEAN_ABS_DIFF and found.agreement == pytest.approx(2.0, abs=1e-6)


def test_a_failing_job_aborts_its_observers():
    class Boom(LogisticRegression):
        def predict_proba(self, x):
            raise ValueError("no")

    x = data(100)
    model = Boom().fit(x[FEATURES], (x["a"] > 0).astype(int))
    seen = []

    class Watcher:
        columns = ()

        def start(self):
            seen.append("start")

        def observe(self, *args):
            seen.append("observe")

        def finish(self):
            seen.append("finish")

        def abort(self):
            seen.append("abort")

    with pytest.raises(Exception, match="could not score"):
        stream(model, x, [Watcher()])
    assert seen == ["start", "abort"]
