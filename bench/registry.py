"""Registry benchmark: events/s and handling time through the function, and upload->row latency.

Side by side, in one run, on the local stack (started here in a temporary folder):
  A. our path: CloudEvents POSTed to the registry function under functions-framework
     (it hashes the object from GCS and appends one row), 8 concurrent senders;
  L. the limit of the store: the same rows appended with insert_rows_json directly (no HTTP,
     no GCS read), 8 concurrent writers;
  N. the naive path the design avoids: one MERGE (DML) per event into a current-state table.
Then upload->row latency through the whole local event path (fake-gcs-server -> bridge ->
function -> BigQuery), polled through the model_registry view.

Run: uv run python bench/registry.py [--events 300] [--uploads 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from _stack import bench_stack, pct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--uploads", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    with bench_stack() as env:
        run(env, args)


def run(env: dict[str, str], args: argparse.Namespace) -> None:
    from google.cloud import bigquery

    from mlsys.clients import bigquery_client
    from mlsys.gcs import gcs_put
    from mlsys.registry.events import build_event
    from mlsys.registry.store import BigQueryRegistryStore
    from mlsys.settings import get_settings

    bucket, n, conc = "mlsys-models-dev", args.events, args.concurrency
    tag = uuid.uuid4().hex[:6]
    print(f"preparing {n} objects ...", flush=True)
    objects = []
    with ThreadPoolExecutor(conc) as pool:

        def put(i: int) -> tuple[str, int]:
            name = f"bench-{tag}/v{i}/model.pkl"
            return name, gcs_put(os.urandom(64 * 1024), bucket, name)

        objects = list(pool.map(put, range(1, n + 1)))
    time.sleep(3)  # let the bridge's own deliveries of these uploads drain first

    # A. through the function
    url = env["MLSYS_FUNCTION_URL"]
    client = httpx.Client(timeout=60)

    def post(obj: tuple[str, int]) -> float:
        name, generation = obj
        headers = {
            "ce-id": uuid.uuid4().hex,
            "ce-specversion": "1.0",
            "ce-type": "google.cloud.storage.object.v1.metadataUpdated",
            "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            "ce-subject": f"objects/{name}",
            "content-type": "application/json",
        }
        body = {
            "bucket": bucket,
            "name": name,
            "generation": str(generation),
            "metageneration": "2",
            "size": str(64 * 1024),
        }
        start = time.perf_counter()
        response = client.post(url, headers=headers, json=body)
        response.raise_for_status()
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(conc) as pool:
        latencies = list(pool.map(post, objects))
    a_rate = n / (time.perf_counter() - start)

    # L. direct appends of equivalent rows
    settings = get_settings()
    rows = [
        build_event(
            "finalized", {"bucket": bucket, "name": name, "generation": g}, settings=settings
        )
        for name, g in objects[: min(n, 200)]
    ]
    store = BigQueryRegistryStore("dev")
    start = time.perf_counter()
    with ThreadPoolExecutor(conc) as pool:
        list(pool.map(lambda r: store.append([r]), rows))
    l_rate = len(rows) / (time.perf_counter() - start)

    # N. one MERGE per event into a current-state table
    bq = bigquery_client()
    table = f"{settings.dataset_ref('dev')}.bench_state_{tag}"
    bq.query(
        f"CREATE TABLE `{table}` (model_name STRING, model_version INT64, "
        "generation INT64, sha256 STRING)"
    ).result()
    merge = (
        f"MERGE `{table}` t USING (SELECT @m AS model_name, @v AS model_version, "
        "@g AS generation, @s AS sha256) s ON t.model_name = s.model_name AND "
        "t.model_version = s.model_version WHEN MATCHED AND s.generation > t.generation "
        "THEN UPDATE SET generation = s.generation, sha256 = s.sha256 "
        "WHEN NOT MATCHED THEN INSERT (model_name, model_version, generation, sha256) "
        "VALUES (s.model_name, s.model_version, s.generation, s.sha256)"
    )
    naive = rows[: min(len(rows), 60)]

    def dml(r) -> None:  # type: ignore[no-untyped-def]
        params = [
            bigquery.ScalarQueryParameter("m", "STRING", r.model_name),
            bigquery.ScalarQueryParameter("v", "INT64", r.model_version),
            bigquery.ScalarQueryParameter("g", "INT64", r.generation),
            bigquery.ScalarQueryParameter("s", "STRING", r.sha256),
        ]
        bq.query(merge, job_config=bigquery.QueryJobConfig(query_parameters=params)).result()

    start = time.perf_counter()
    with ThreadPoolExecutor(conc) as pool:
        list(pool.map(dml, naive))
    n_rate = len(naive) / (time.perf_counter() - start)

    # Upload -> current row, through the whole local event path.
    from mlsys.registry import get_version

    upload_latency = []
    for i in range(1, args.uploads + 1):
        model = f"lat-{tag}"
        start = time.perf_counter()
        gcs_put(b"x" * 1024, bucket, f"{model}/v{i}/model.pkl")
        while True:
            try:
                get_version("dev", model, i)
                break
            except Exception:
                time.sleep(0.02)
        upload_latency.append(time.perf_counter() - start)

    ms = 1000
    print()
    print("| path | events/s | p50 ms | p99 ms | vs limit | vs naive |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| A. function (hash from GCS + append), {conc} senders | {a_rate:.0f} | "
        f"{statistics.median(latencies) * ms:.0f} | {pct(latencies, 0.99) * ms:.0f} | "
        f"{a_rate / l_rate:.2f}x | {a_rate / n_rate:.1f}x |"
    )
    print(
        f"| L. direct insert_rows_json (the store's limit) | {l_rate:.0f} | | | 1.00x | "
        f"{l_rate / n_rate:.1f}x |"
    )
    print(f"| N. one MERGE per event (naive) | {n_rate:.1f} | | | {n_rate / l_rate:.2f}x | 1.0x |")
    print()
    print(
        f"upload -> row in model_registry view, {len(upload_latency)} uploads: "
        f"p50 {statistics.median(upload_latency) * ms:.0f} ms, "
        f"p99 {pct(upload_latency, 0.99) * ms:.0f} ms, max {max(upload_latency) * ms:.0f} ms"
    )


if __name__ == "__main__":
    main()
