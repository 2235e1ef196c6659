"""Models published through the real registry function, served by the stack's uvicorn."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mlsys.examples import titanic
from mlsys.local import processes
from tests.conftest import ROOT
from tests.predict.helpers import numeric_frame, publish

#: The first request of a fresh service process imports scikit-learn, pandas, onnxruntime and
#: loads the model; on a busy 2-core machine that was seen to take 30 s.
COLD_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Trained:
    model: Any
    metadata: dict[str, Any]
    rows: Any  # a DataFrame of feature columns to predict


@pytest.fixture(scope="session")
def titanic_trained() -> Trained:
    df = titanic.load_csv()
    train, test = titanic.split(df)
    model = titanic.build_pipeline().fit(train[titanic.FEATURES], train[titanic.TARGET])
    return Trained(model, {"features": titanic.feature_schema(df)}, test[titanic.FEATURES])


@pytest.fixture(scope="session")
def titanic_name(stack, titanic_trained) -> str:
    """The demo model, v1, in dev."""
    name = f"online-titanic-{uuid.uuid4().hex[:8]}"
    publish(titanic_trained.model, metadata=titanic_trained.metadata, name=name)
    return name


@pytest.fixture(scope="session")
def http(stack) -> Iterator[httpx.Client]:
    """A client of the stack's service (uvicorn, as `mlsys local up` runs it)."""
    with httpx.Client(base_url=stack.env["MLSYS_SERVICE_URL"], timeout=COLD_TIMEOUT_S) as client:
        yield client


@pytest.fixture(scope="session")
def forest(stack) -> Trained:
    """A numeric model (RandomForest on f0..f3, a float matrix) with its BigQuery ML ONNX
    export registered, published as v1 of a fresh name."""
    from sklearn.ensemble import RandomForestClassifier

    frame = numeric_frame(400, seed=5)
    x = frame[["f0", "f1", "f2", "f3"]]
    model = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0)
    model.fit(x.to_numpy(), (x["f0"] + x["f1"] > 1).astype(int))
    features = [{"name": c, "dtype": "float64"} for c in x.columns]
    return Trained(model, {"features": features}, x)


def wait_for_export(name: str, version: int, timeout: float = 60) -> None:
    """Until the registry function recorded the version's export with its hash."""
    from mlsys.bqml import export_path
    from mlsys.registry.state import live_object
    from mlsys.registry.store import registry_store

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = registry_store("dev").events(object_name=export_path(name, version))
        if live_object(events) is not None:
            return
        time.sleep(0.5)
    raise AssertionError(f"the export of {name} v{version} was not registered in {timeout}s")


def answer(client: httpx.Client, path: str, body: Any, **params: Any) -> httpx.Response:
    return client.post(path, json=body, params=params or None)


def rows_of(frame: Any) -> list[dict[str, Any]]:
    """JSON instances from a DataFrame: NaN as null, numpy scalars as Python ones."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in clean.to_dict("records")
    ]


@pytest.fixture(scope="module")
def spawned_service(stack, tmp_path_factory) -> Iterator[str]:
    """A second service process (the same command as the stack's) with a 2 s resolution TTL
    and extra fields refused, for the rollback and settings tests."""
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(stack.env)
    env.update({"MLSYS_ONLINE_CACHE_TTL_S": "2", "MLSYS_ONLINE_EXTRA_FIELDS": "refuse"})
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "service.main:app",
        "--app-dir",
        str(ROOT),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    log = tmp_path_factory.mktemp("online-service") / "service.log"
    record = processes.spawn(
        "online-service", command, port=port, url=f"{url}/health", log_path=log, env=env, cwd=ROOT
    )
    try:
        processes.wait_ready(
            {"online-service": record},
            {"online-service": processes.http_ready(f"{url}/health")},
            60.0,
            None,
        )
        yield url
    finally:
        processes.stop(record)
