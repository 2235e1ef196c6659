"""Backend reachability checks behind the service's ``/ready`` probe."""

from __future__ import annotations

import time

from mlsys.clients import bigquery_client, storage_client
from mlsys.settings import Settings

#: A probe answers in bounded time: one try, no client retries (those last up to 10 minutes).
PROBE_TIMEOUT_S = 5.0


def check_backends(settings: Settings) -> dict[str, dict[str, object]]:
    """Can this process reach BigQuery (its registry dataset) and GCS (its models bucket)?"""
    results: dict[str, dict[str, object]] = {}
    for name, probe in (
        (
            "bigquery",
            lambda: bigquery_client().get_dataset(
                settings.dataset_for(settings.mlsys_env),
                retry=None,  # type: ignore[arg-type]  # the client skips retries on None
                timeout=PROBE_TIMEOUT_S,
            ),
        ),
        (
            "gcs",
            lambda: storage_client().get_bucket(
                settings.bucket_for(settings.mlsys_env), retry=None, timeout=PROBE_TIMEOUT_S
            ),
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
