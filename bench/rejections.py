"""Upload feedback benchmark: how soon a refused upload is reported, next to a registration.

Side by side, in one run, on the local stack (started here in a temporary folder), alternating:
  R. a misnamed upload (`{model}/v1/model.pickle`): seconds from the end of the upload until
     `wait_for_version` raises UploadRejected with the function's reason;
  A. a correct upload (`{model}/v1/model.pkl`): seconds until `wait_for_version` returns the
     registered version (the same event path: the floor for any feedback);
  S. the same misnamed upload seen by `GET /models/rejections` of the running service.
Before the feedback existed, R was the whole timeout (30 s by default) ending in VersionNotFound.

Run: uv run python bench/rejections.py [--uploads 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

import httpx
from _stack import bench_stack, pct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=20)
    args = parser.parse_args()

    with bench_stack():
        run(args.uploads)


def run(n: int) -> None:
    from mlsys.errors import UploadRejected
    from mlsys.gcs import gcs_put
    from mlsys.registry import wait_for_version
    from mlsys.settings import get_settings

    settings = get_settings()
    bucket, tag = settings.bucket_for("dev"), uuid.uuid4().hex[:6]
    rejected, registered, listed = [], [], []
    with httpx.Client(base_url=settings.service_url or "", timeout=30) as service:
        for i in range(n):
            bad = f"bench-bad-{tag}-{i}"
            gcs_put(os.urandom(4096), bucket, f"{bad}/v1/model.pickle")
            start = time.monotonic()
            try:
                wait_for_version("dev", bad, 1, timeout=30)
                raise SystemExit(f"{bad} registered: expected a rejection")
            except UploadRejected:
                rejected.append(time.monotonic() - start)
            start = time.monotonic()
            while not service.get("/models/rejections", params={"search": bad}).json():
                time.sleep(0.05)
            listed.append(time.monotonic() - start)

            good = f"bench-good-{tag}-{i}"
            gcs_put(os.urandom(4096), bucket, f"{good}/v1/model.pkl")
            start = time.monotonic()
            wait_for_version("dev", good, 1, timeout=30)
            registered.append(time.monotonic() - start)

    print(f"{n} uploads of each kind, alternating, on the local stack")
    print("| path | median s | p90 s | max s |")
    print("|---|---|---|---|")
    for label, values in (
        ("R. misnamed upload -> UploadRejected from wait_for_version", rejected),
        ("A. correct upload -> registered version from wait_for_version", registered),
        ("S. misnamed upload -> listed by GET /models/rejections (after R)", listed),
    ):
        print(
            f"| {label} | {statistics.median(values):.2f} | {pct(values, 0.9):.2f} "
            f"| {max(values):.2f} |"
        )
    ratio = statistics.median(rejected) / statistics.median(registered)
    print(f"\nrejection feedback / registration (median): {ratio:.2f}x; before: 30 s timeout")


if __name__ == "__main__":
    main()
