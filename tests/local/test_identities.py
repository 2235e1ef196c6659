"""The components' own paths under enforcement: what Cloud Scheduler sends reaches the running
service, which runs it as its own account (``service``) with exactly its Terraform grants."""

from __future__ import annotations

import time

import httpx
import pytest
from sklearn.ensemble import RandomForestClassifier

from mlsys.bq import bq_get, bq_put
from mlsys.schedules import parse_schedules
from tests.predict.helpers import numeric_frame, publish


@pytest.mark.parametrize("tasks", [1, 2], ids=["on-the-service", "as-a-cloud-run-job"])
def test_a_scheduled_run_through_the_running_service(stack, settings, unique, tasks):
    """With ``tasks: 2`` the service (as its own account) runs the env's Cloud Run Job, whose
    tasks run as the job's account: every hop with exactly its Terraform grants."""
    frame = numeric_frame(50, seed=5)
    source = f"{settings.dataset_ref('dev')}.scheduled_in_{unique}"
    bq_put(frame, source, "WRITE_TRUNCATE")
    model = publish(
        RandomForestClassifier(n_estimators=3).fit(frame[["f0", "f1"]], frame["f0"] > 0.5)
    )
    output = f"{settings.predictions_dataset_ref('dev')}.scheduled_out_{unique}"
    (schedule,) = parse_schedules(
        {
            "schedules": [
                {
                    "name": "nightly",
                    "envs": ["dev"],
                    "cron": "0 3 * * *",
                    "model": model.model_name,
                    "version": "latest",
                    "input_table": source,
                    "output_table": output,
                    "tasks": tasks,
                }
            ]
        }
    )
    with httpx.Client(base_url=settings.service_url, timeout=60) as service:
        started = service.post("/predict", json=schedule.request("dev"))
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        deadline = time.monotonic() + 600
        while (status := service.get(f"/jobs/{job_id}").json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
    assert status["status"] == "succeeded", status
    assert len(bq_get(f"SELECT row_id FROM `{output}`")) == 50
