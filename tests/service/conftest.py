"""The service's data on the session stack, and extra service processes whose backends fail."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from google.cloud import bigquery
from sklearn.ensemble import RandomForestClassifier

from mlsys.bq import bq_put
from mlsys.clients import bigquery_client
from service.main import create_app
from tests.predict.helpers import numeric_frame, publish
from tests.service.faults import (
    FaultServer,
    ServiceProcess,
    faulty_service,
    uncredentialed_service,
)


@pytest.fixture(scope="session")
def model(stack):
    """A registered random forest over f0..f3."""
    x = numeric_frame(200, seed=3)[["f0", "f1", "f2", "f3"]]
    return publish(RandomForestClassifier(n_estimators=5).fit(x, x["f0"] > 0.5))


@pytest.fixture(scope="session")
def tables(stack, settings):
    """``project.dataset`` holding the inputs of the API tests (read-only for them)."""
    ds = settings.dataset_ref("dev")
    frame = numeric_frame(100, seed=4)
    bq_put(frame, f"{ds}.api_in", "WRITE_TRUNCATE")
    bq_put(frame.drop(columns=["f1", "f3"]), f"{ds}.api_missing", "WRITE_TRUNCATE")
    bq_put(frame.assign(f2=frame["f2"].astype(str)), f"{ds}.api_strings", "WRITE_TRUNCATE")
    bq_put(frame.assign(prediction="x"), f"{ds}.api_incompatible_out", "WRITE_TRUNCATE")
    view = bigquery.Table(f"{ds}.api_view")
    view.view_query = f"SELECT * FROM `{ds}.api_in` WHERE f0 > 0.2"
    bigquery_client("dev").create_table(view, exists_ok=True)
    return ds


@pytest.fixture(scope="session")
def outputs(settings) -> str:
    """Outputs go to the predictions dataset: the service may write there, not the registry's."""
    return settings.predictions_dataset_ref("dev")


@pytest.fixture(scope="session")
def client(stack) -> TestClient:
    """The app in this process (another instance than the stack's service)."""
    return TestClient(create_app())


@pytest.fixture(scope="session")
def service(settings) -> Iterator[httpx.Client]:
    """The service `mlsys local up` started under uvicorn."""
    with httpx.Client(base_url=settings.service_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="session")
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def faulty(fault_server, tmp_path_factory) -> Iterator[ServiceProcess]:
    """The service with BigQuery and Cloud Storage answered by ``fault_server``."""
    process = faulty_service(fault_server, tmp_path_factory.mktemp("faulty"))
    yield process
    process.stop()


@pytest.fixture(scope="session")
def uncredentialed(tmp_path_factory) -> Iterator[ServiceProcess]:
    """The service configured for Google Cloud with no usable credentials."""
    process = uncredentialed_service(tmp_path_factory.mktemp("uncredentialed"))
    yield process
    process.stop()
