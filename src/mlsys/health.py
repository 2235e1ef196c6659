"""Backend reachability checks behind the service's ``/ready`` probe."""

from __future__ import annotations

import time

from mlsys.clients import bigquery_client, storage_client
from mlsys.settings import Settings


def check_backends(settings: Settings) -> dict[str, dict[str, object]]:
    """Can this process reach BigQuery (its registry dataset) and GCS (its models bucket)?"""
    results: dict[str, dict[str, object]] = {}
    for name, probe in (
        (
            "bigquery",
            lambda: bigquery_client().get_dataset(settings.dataset_for(settings.mlsys_env)),
        ),
        ("gcs", lambda: storage_client().get_bucket(settings.bucket_for(settings.mlsys_env))),
    ):
        start = time.perf_counter()
        try:
            probe()
            results[name] = {"ok": True}
        except Exception as exc:  # any failure means "not ready"; reported, not raised
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        results[name]["ms"] = round((time.perf_counter() - start) * 1000, 1)
    return results
