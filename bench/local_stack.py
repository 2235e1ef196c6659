"""The local stack: start-up time, and a large object through the IAM proxy.

    uv run python bench/local_stack.py --runs 3 --upload-mib 100

Each start-up run starts a whole stack in a temporary folder (as the test session does), prints
when each component first passed its probes and the total, and stops it. The upload run sends
an object of ``--upload-mib`` MiB through the proxy and straight to fake-gcs-server, side by
side, and reports the proxy's peak RSS (it streams: the object is never held in memory). The
proxy's cost on the prediction path is measured in bench/predict.py ((c) against (c')).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run() -> tuple[float, dict[str, float]]:
    from mlsys.local.stack import LocalStack

    with tempfile.TemporaryDirectory(prefix="mlsys-bench-stack-") as state:
        stack = LocalStack(root=ROOT, state_dir=Path(state))
        start = time.monotonic()
        ready: dict[str, float] = {}
        try:
            info = stack.up(on_ready=lambda name: ready.setdefault(name, time.monotonic() - start))
        finally:
            stack.down()
        return info.startup_seconds, ready


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def upload_run(mib: int) -> None:
    """One object of ``mib`` MiB up and down, through the proxy (as the owner and as a
    promoter, whose upload the proxy checks) and straight to the emulator."""
    import os

    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from google.oauth2.credentials import Credentials

    from mlsys.local.stack import LocalStack

    with tempfile.TemporaryDirectory(prefix="mlsys-bench-upload-") as state:
        stack = LocalStack(root=ROOT, state_dir=Path(state))
        info = stack.up(components=("gcs", "bigquery", "proxy"))
        try:
            proxy, data = info.records["proxy"].pid, os.urandom(mib * 1024 * 1024)
            direct = info.extra["direct"]["STORAGE_EMULATOR_HOST"]  # type: ignore[index]
            cases = [
                ("proxy, owner", info.env["STORAGE_EMULATOR_HOST"], AnonymousCredentials()),
                (
                    "proxy, promoter@staging",
                    info.env["STORAGE_EMULATOR_HOST"],
                    Credentials(token="mlsys-local:promoter@staging"),
                ),
                ("direct, owner", direct, AnonymousCredentials()),
            ]
            for label, endpoint, credentials in cases:
                client = storage.Client(
                    project="mlsys-local-staging",
                    credentials=credentials,
                    client_options=ClientOptions(api_endpoint=endpoint),
                )
                blob = client.bucket("mlsys-models-staging").blob(f"bench/{label}.bin")
                blob.chunk_size = 8 * 1024 * 1024  # resumable, 8 MiB chunks
                start = time.monotonic()
                blob.upload_from_string(data)
                up = time.monotonic() - start
                start = time.monotonic()
                assert blob.download_as_bytes() == data
                down = time.monotonic() - start
                print(
                    f"{mib} MiB {label:24} up {mib / up:6.1f} MiB/s  down {mib / down:6.1f} MiB/s"
                    f"  proxy peak RSS {peak_rss_mib(proxy):.0f} MiB",
                    flush=True,
                )
        finally:
            stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--upload-mib", type=int, default=100, help="0 to skip")
    args = parser.parse_args()
    totals = []
    for run in range(args.runs):
        total, ready = one_run()
        totals.append(total)
        order = ", ".join(f"{n} {s:.1f}s" for n, s in sorted(ready.items(), key=lambda i: i[1]))
        print(f"run {run}: {total:.1f}s to ready ({order})", flush=True)
    if totals:
        print(f"median {statistics.median(totals):.1f}s over {args.runs} runs")
    if args.upload_mib:
        upload_run(args.upload_mib)


if __name__ == "__main__":
    main()
