"""Backend reachability checks behind the service's ``/ready`` probe."""

from __future__ import annotations

import time

from mlsys.clients import bigquery_client, storage_client
from mlsys.settings import Settings


def check_backends(settings: Settings) -> dict[str, dict[str, object]]:
    """Can this process reach BigQuery (its registry dataset) and GCS (its models bucket)?

    Each probe needs only what the service account is granted: ``bigquery.datasets.get`` on the
    registry (dataViewer) and ``storage.objects.list`` on the bucket (objectViewer, which does
    not include ``storage.buckets.get``)."""
    env = settings.mlsys_env
    results: dict[str, dict[str, object]] = {}
    for name, probe in (
        ("bigquery", lambda: bigquery_client(env).get_dataset(settings.dataset_ref(env))),
        (
            "gcs",
            lambda: list(storage_client(env).list_blobs(settings.bucket_for(env), max_results=1)),
        ),
    ):
        start = time.perf_counter()
        try:
            probe()
            results[name] = {"ok": True}
        except Exception as exc:  # any failure means "not ready"; reported, not raised
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        results[name]["ms"] = round((time.perf_counter() - start) * 1000, 1)
    return results
