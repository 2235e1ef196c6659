"""Online prediction benchmark: the service against the bare model call, side by side.

    uv run python bench/online.py                # print the figures
    uv run python bench/online.py --write-docs   # ... and put them in docs/benchmarks.md

On its own local stack (started here in a temporary folder), with the demo model (the Titanic
Pipeline: ColumnTransformer over raw columns with NULLs, LogisticRegression) published through
the real registry function and served by the stack's uvicorn (one process, as `mlsys local up`
and Cloud Run run it):

1. latency of 1-row and 100-row requests, one client with a keep-alive connection
   (``http.client``), against the bare in-process ``model.predict`` of the same rows (a
   DataFrame built beforehand), the service's ASGI app called in this process (our code
   without the loopback hop) and the floor (bench/_online_floor.py: the same model on prepared
   rows under the same uvicorn, the least any HTTP service for it costs here); one call of each
   in turn, in a rotating order, and what each adds to the bare call taken per turn (paired:
   the machine's speed shifts between phases); the same for a version with a registered ONNX
   export (served by onnxruntime once its trial chose it);
2. requests/s of 1-row requests with 1, 8 and 32 concurrent clients (asyncio connections with
   keep-alive on loopback, a fixed number of requests in flight), in interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.client
import json
import os
import pickle
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- bench/online.py:start -->", "<!-- bench/online.py:end -->"
ms = 1000.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rows_of(frame: Any) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in clean.to_dict("records")
    ]


# -- set-up -------------------------------------------------------------------------------------
def publish(model: Any, name: str, metadata: dict[str, Any]) -> None:
    import io

    import joblib

    from mlsys.gcs import gcs_put
    from mlsys.registry import wait_for_version
    from mlsys.settings import get_settings

    bucket = get_settings().bucket_for("dev")
    gcs_put(json.dumps(metadata), bucket, f"{name}/v1/metadata.json")
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    gcs_put(buffer.getvalue(), bucket, f"{name}/v1/model.pkl")
    wait_for_version("dev", name, 1, timeout=60)


def export(name: str, frame: Any) -> None:
    """The BigQuery ML ONNX export of v1, waited for until the registry records it."""
    from mlsys.bq import bq_put
    from mlsys.bqml import export_bqml, export_path
    from mlsys.registry.state import live_object
    from mlsys.registry.store import registry_store
    from mlsys.settings import get_settings

    settings = get_settings()
    table = f"{settings.dataset_ref('dev')}.bench_online"
    bq_put(frame, table, "WRITE_TRUNCATE")
    export_bqml("dev", name, 1, input_table=table)
    while live_object(registry_store("dev").events(object_name=export_path(name, 1))) is None:
        time.sleep(0.5)


# -- latency ------------------------------------------------------------------------------------
class Client:
    """One keep-alive connection to the service."""

    def __init__(self, url: str) -> None:
        host, port = url.split("//", 1)[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)

    def post(self, path: str, body: bytes) -> tuple[int, bytes, str]:
        try:
            return self._post(path, body)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            self.conn.close()  # uvicorn closes connections idle for 5 s: connect again
            return self._post(path, body)

    def _post(self, path: str, body: bytes) -> tuple[int, bytes, str]:
        self.conn.request("POST", path, body=body, headers={"content-type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, response.getheader("x-mlsys-runtime") or ""


class InProcess:
    """The service's ASGI app called in this process (no socket, no second process): what our
    code costs, without the loopback hop and the scheduling of two processes."""

    def __init__(self, *, online_path: bool = True) -> None:
        sys.path.insert(0, str(ROOT))  # the service package sits beside src/, as in the image
        from service.main import app, create_app

        # online_path=False: the same app with online prediction left to FastAPI's routing
        self.app = app if online_path else create_app(online_path=False)
        self.loop = asyncio.new_event_loop()

    def post(self, path: str, body: bytes) -> tuple[int, bytes, str]:
        return self.loop.run_until_complete(self._call(path, body))

    async def _call(self, path: str, body: bytes) -> tuple[int, bytes, str]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2),
            "state": {},
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.sleep(3600)  # never: the body was read
            return {}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)  # type: ignore[arg-type]
        headers = dict(sent[0]["headers"])
        body_out = b"".join(m.get("body", b"") for m in sent[1:])
        return sent[0]["status"], body_out, headers.get(b"x-mlsys-runtime", b"").decode()


@contextmanager
def floor_server(model: Any, frames: dict[str, Any]) -> Iterator[Client]:
    """bench/_online_floor.py under uvicorn, with the options the local stack gives the
    service: the same model on rows prepared beforehand, nothing else (the limit)."""
    import socket
    import subprocess

    folder = Path(tempfile.mkdtemp(prefix="mlsys-floor-"))
    (folder / "floor.pkl").write_bytes(pickle.dumps((model, frames)))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "_online_floor:app"),
            *("--app-dir", str(ROOT / "bench"), "--host", "127.0.0.1", "--port", str(port)),
            *("--log-level", "warning", "--no-access-log"),
        ],
        env={**os.environ, "MLSYS_BENCH_FLOOR": str(folder / "floor.pkl")},
    )
    try:
        client = Client(f"http://127.0.0.1:{port}")
        for _ in range(600):  # up to a minute for uvicorn and the model to load
            try:
                client.post(next(iter(frames)), b"{}")
                break
            except OSError:
                client.conn.close()
                time.sleep(0.1)
        yield client
    finally:
        process.terminate()
        process.wait(timeout=30)


def alternate(
    calls: dict[str, Callable[[], Any]],
    iterations: int,
    *,
    rotate: bool = False,
    before: Callable[[], Any] | None = None,
) -> dict[str, list[float]]:
    """Each call's times: one of each in turn, ``iterations`` times, so that the shared
    machine's load hits all alike. ``rotate``: the order shifts every turn (no call always
    follows the same one); ``before``: run, untimed, before each call."""
    keys = list(calls)
    times: dict[str, list[float]] = {key: [] for key in keys}
    for i in range(iterations):
        shift = i % len(keys) if rotate else 0
        for key in keys[shift:] + keys[:shift]:
            if before is not None:
                before()
            start = time.perf_counter()
            calls[key]()
            times[key].append(time.perf_counter() - start)
    return times


def p50_table(header: str, times: dict[str, list[float]], digits: int) -> str:
    """A Markdown table of each call's p50 in ms."""
    lines = [f"| {header} | p50 (ms) |", "|---|---:|"]
    lines += [f"| {key} | {statistics.median(v) * ms:.{digits}f} |" for key, v in times.items()]
    return "\n".join(lines)


def latency(targets: dict[str, Callable[[], Any]], iterations: int) -> dict[str, list[float]]:
    """Each target's call times: one call of each in turn, ``iterations`` times, the order
    rotating every iteration (no target always follows the same one). Calls of one iteration
    are a few milliseconds apart, so :func:`added` can pair them: this machine's speed shifts
    between phases (the bare call's p10 and p90 are 1.5x apart), which medians of separate
    samples would mix up."""
    for _ in range(20):  # warm: caches, the ONNX trial, the first calls' one-off costs
        for call in targets.values():
            call()
    return alternate(targets, iterations, rotate=True)


def added(times: dict[str, list[float]], key: str) -> float:
    """What ``key`` adds to the bare call at p50 (ms): the median over iterations of its time
    minus the bare call's time in the same iteration."""
    return statistics.median(a - b for a, b in zip(times[key], times["bare"], strict=True)) * ms


def ok(target: Client | InProcess, path: str, body: bytes) -> Callable[[], str]:
    """A call of ``target`` that must answer 200; returns the runtime that answered."""

    def call() -> str:
        status, data, runtime = target.post(path, body)
        assert status == 200, data
        return runtime

    return call


def breakdown(local: InProcess, name: str, model: Any, frame: Any, iterations: int) -> str:
    """Where the in-process time of a 1-row request goes, each step measured alone and all
    alternating call by call."""
    from mlsys.online.instances import check_instances, parse_body
    from mlsys.online.server import online_server
    from mlsys.predict.features import columns_input

    rows = frame.iloc[:1].reset_index(drop=True)
    body = json.dumps({"instances": rows_of(rows)}).encode()
    path = f"/models/{name}/versions/v1:predict"
    server = online_server()
    served_model = server.served_model(None, name, "v1").model
    raw = parse_body(body, max_instances=1000)
    checked = check_instances(raw, served_model.plan, refuse_extra=False)
    x = columns_input(checked.columns, served_model.plan)
    import pandas as pd

    arrow = pd.StringDtype("pyarrow", na_value=float("nan"))  # pandas 3's default `str`
    x_arrow = x.astype({c: arrow for c, t in x.dtypes.items() if isinstance(t, pd.StringDtype)})
    routed = InProcess(online_path=False)
    steps = {
        "bare `model.predict(DataFrame)` (the CSV's frame: text stored in Arrow)": lambda: (
            model.predict(rows)
        ),
        "`model.predict_proba` on the service's input (text: `str` on Python objects)": lambda: (
            model.predict_proba(x)
        ),
        "the same on that input with its text stored in Arrow (the service before)": lambda: (
            model.predict_proba(x_arrow)
        ),
        "parse + check the JSON body": lambda: check_instances(
            parse_body(body, max_instances=1000), served_model.plan, refuse_extra=False
        ),
        "build the model's input (`columns_input`)": lambda: columns_input(
            checked.columns, served_model.plan
        ),
        "score + answer (`ServedModel.score_many`)": lambda: served_model.score_many([checked]),
        "the whole library call (`OnlineServer.predict`)": lambda: server.predict(
            None, name, "v1", body
        ),
        "the service's app in-process (middlewares, lean path, response)": lambda: local.post(
            path, body
        ),
        "the same through FastAPI's routing (`create_app(online_path=False)`)": lambda: routed.post(
            path, body
        ),
    }
    return p50_table("step (1 row, in-process)", alternate(steps, iterations), 3)


def text_storage(name: str, body: bytes, iterations: int) -> str:
    """The model's input with its text on Python objects (now) or in Arrow (as it was built
    before), built from a 1-row request's columns and scored, alternating, with the CPU caches
    flushed between calls as a server's are between requests (the breakdown times them warm).
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mlsys.online.instances import check_instances, parse_body
    from mlsys.online.server import online_server
    from mlsys.predict.features import columns_input

    served_model = online_server().served_model(None, name, "v1").model
    plan, model = served_model.plan, served_model.primary.model
    columns = check_instances(parse_body(body, max_instances=10), plan, refuse_extra=False).columns
    arrow = pd.StringDtype("pyarrow", na_value=float("nan"))

    def in_arrow() -> Any:  # the former columns_input, for the demo model's numbers and text
        arrays = [
            np.array([np.nan if v is None else v for v in columns[f.name]], dtype=np.float64)
            if f.kind == "numeric"
            else pd.arrays.ArrowStringArray(
                pa.array(columns[f.name], type=pa.large_string()),
                dtype=arrow,  # type: ignore[call-arg]
            )
            for f in plan.features
        ]
        return pd.DataFrame._from_arrays(  # type: ignore[attr-defined]
            arrays, columns=pd.Index(plan.names), index=pd.RangeIndex(1), verify_integrity=False
        )

    ways = {
        "text as `str` on Python objects (now)": lambda: model.predict_proba(
            columns_input(columns, plan)
        ),
        "text as `str` in Arrow (before)": lambda: model.predict_proba(in_arrow()),
    }
    flush = np.ones(4_000_000)  # 32 MB: more than the caches
    times = alternate(ways, iterations, before=flush.sum)
    return p50_table("1-row model input built and scored, caches flushed", times, 2)


def full_collections(repeats: int = 5) -> str:
    """A full garbage collection in this process, which by now serves the demo model as the
    service does (the app in-process): with every object tracked, as before, and with what
    the service froze at the model's load (``server._settle_heap``)."""
    import gc

    def timed() -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            gc.collect()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * ms

    frozen = gc.get_freeze_count()
    gc.unfreeze()
    tracked, before = len(gc.get_objects()), timed()
    gc.freeze()
    after = timed()
    return "\n".join(
        [
            "| full garbage collection, this process | objects walked | p50 (ms) |",
            "|---|---:|---:|",
            f"| every object tracked (before) | {tracked:,} | {before:.1f} |",
            f"| after the load's freeze (now; {frozen:,} frozen then) | {len(gc.get_objects()):,} "
            f"| {after:.2f} |",
        ]
    )


# -- throughput -----------------------------------------------------------------------------------
async def _one_client(
    host: str, port: int, request: bytes, deadline: float, out: list[float]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"content-length: *(\d+)", head, re.I)
            await reader.readexactly(int(match.group(1)) if match else 0)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace"))
            out.append(time.perf_counter() - start)
    finally:
        writer.close()


def throughput(url: str, name: str, frame: Any, clients: int, seconds: float) -> list[float]:
    host, port = url.split("//", 1)[1].split(":")
    body = json.dumps({"instances": rows_of(frame.iloc[:1])}).encode()
    request = (
        f"POST /models/{name}/versions/v1:predict HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(_one_client(host, int(port), request, deadline, latencies) for _ in range(clients))
        )

    asyncio.run(main())
    return latencies


def served(url: str, name: str) -> dict[str, Any]:
    import httpx

    models = httpx.get(f"{url}/online/models", timeout=60).json()
    return next(m for m in models if m["model_name"] == name)


# -- the run ----------------------------------------------------------------------------------
def run(url: str, args: argparse.Namespace) -> str:
    from mlsys.examples import titanic

    df = titanic.load_csv()
    train, test = titanic.split(df)
    model = titanic.build_pipeline().fit(train[titanic.FEATURES], train[titanic.TARGET])
    metadata = {"features": titanic.feature_schema(df)}
    frame = test[titanic.FEATURES]
    tag = uuid.uuid4().hex[:6]
    plain, with_onnx = f"bench-online-{tag}", f"bench-online-onnx-{tag}"
    publish(model, plain, metadata)
    publish(model, with_onnx, metadata)
    export(with_onnx, test)

    client, local = Client(url), InProcess()
    steps = breakdown(local, plain, model, frame, args.iterations)
    one_row = json.dumps({"instances": rows_of(frame.iloc[:1])}).encode()
    storage = text_storage(plain, one_row, args.iterations)
    collections = full_collections()
    sizes = (("1 row", 1), ("100 rows", 100))
    inputs = {n: frame.iloc[:n].reset_index(drop=True) for _, n in sizes}
    bodies = {n: json.dumps({"instances": rows_of(inputs[n])}).encode() for _, n in sizes}
    lat: dict[tuple[str, str], dict[str, Any]] = {}
    with floor_server(model, {f"/{n}": inputs[n] for _, n in sizes}) as floor:
        for name in (plain, with_onnx):
            path = f"/models/{name}/versions/v1:predict"
            for rows, n in sizes:
                x = inputs[n]
                targets: dict[str, Callable[[], Any]] = {
                    "bare": functools.partial(model.predict, x),
                    "service": ok(client, path, bodies[n]),
                    "in-process": ok(local, path, bodies[n]),
                    "floor": ok(floor, f"/{n}", b"{}"),
                }
                result = latency(targets, args.iterations)
                lat[(rows, name)] = {"times": result, "runtime": targets["service"]()}
    levels = (1, 8, 32)
    rounds: dict[int, list[list[float]]] = {c: [] for c in levels}
    before = served(url, plain)
    for _ in range(args.rounds):  # interleaved: the machine's load drifts
        for clients in levels:
            rounds[clients].append(throughput(url, plain, frame, clients, args.seconds))
    after = served(url, plain)
    return (
        report(lat, rounds, args, before, after, served(url, with_onnx))
        + "\n\nWhere the time of a 1-row request goes (in-process, each step alone, "
        + "alternating):\n\n"
        + steps
        + "\n\nHow the model's input stores text (the demo model, 1 row, alternating):\n\n"
        + storage
        + "\n\nThe garbage collector's full collections (each stops every request):\n\n"
        + collections
    )


def report(lat, rounds, args, before, after, onnx_status) -> str:  # type: ignore[no-untyped-def]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    def p50_p99(values: list[float]) -> str:
        return f"{statistics.median(values) * ms:.2f} / {pct(values, 0.99) * ms:.2f}"

    out = [
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
        f"{load:.1f} at the end; model: the demo Pipeline (titanic-survival); service: the local "
        "stack's uvicorn (one process); client: keep-alive on loopback (`http.client`). Run: "
        f"`uv run python bench/online.py` ({args.iterations} calls of each per latency row, "
        f"one of each in turn; {args.rounds} rounds of {args.seconds:.0f} s per concurrency).",
        "",
        "| request | served by | bare `model.predict` p50 / p99 (ms) | service over HTTP p50 / "
        "p99 (ms) | service over HTTP adds, p50 (ms) | the app in-process adds, p50 (ms) | the "
        "floor over HTTP adds, p50 (ms) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (rows, _), result in lat.items():
        times = result["times"]
        out.append(
            f"| {rows} | {result['runtime']} | {p50_p99(times['bare'])} | "
            f"{p50_p99(times['service'])} | {added(times, 'service'):+.2f} | "
            f"{added(times, 'in-process'):+.2f} | {added(times, 'floor'):+.2f} |"
        )
    out += [
        "",
        "Adds: the median over the calls of (its time - the bare call's time in the same turn). "
        "The floor is bench/_online_floor.py under the same uvicorn: the same scikit-learn "
        "model on rows prepared beforehand, answered with no parsing, checks or middleware, the "
        "least any HTTP service for this model costs here (for the ONNX rows too: it is the "
        "scikit-learn model).",
        "",
        "| concurrent clients (1 row each) | requests/s | vs 1 client | p50 / p99 latency (ms) |",
        "|---:|---:|---:|---:|",
    ]
    rates = {}
    for clients, runs in rounds.items():
        done = [x for run_ in runs for x in run_]
        rates[clients] = len(done) / (args.seconds * len(runs))
        out.append(
            f"| {clients} | {rates[clients]:.0f} | {rates[clients] / rates[1]:.2f}x | "
            f"{statistics.median(done) * ms:.2f} / {pct(done, 0.99) * ms:.2f} |"
        )
    requests = after["requests"] - before["requests"]
    batches = after["batches"] - before["batches"]
    first = lat[next(iter(lat))]["times"]
    out += [
        "",
        f"Model calls during the throughput runs: {batches:,} for {requests:,} requests "
        f"({requests / max(batches, 1):.1f} requests per call). ONNX export: "
        f"{onnx_status['decision']}.",
        "",
        "Targets:",
        f"- what the service adds to the bare call at p50, 1 row (scikit-learn both): "
        f"{added(first, 'service'):.2f} ms over HTTP, {added(first, 'in-process'):.2f} ms "
        f"in-process (target <= 3); the floor over HTTP adds {added(first, 'floor'):.2f} ms",
        f"- requests/s, 32 clients / 1 client: {rates[32] / rates[1]:.2f} (target >= 4)",
    ]
    return "\n".join(out)


def write_docs(text: str) -> None:
    """Replace the figures between this bench's markers in docs/benchmarks.md."""
    doc = DOCS.read_text()
    block = f"{START}\n{text}\n{END}"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    DOCS.write_text(pattern.sub(lambda _: block, doc) if pattern.search(doc) else doc + block)
    print(f"wrote the figures into {DOCS.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    from mlsys.local.stack import LocalStack
    from mlsys.settings import reset_settings

    stack = LocalStack(root=ROOT, state_dir=Path(tempfile.mkdtemp(prefix="mlsys-bench-")))
    info = stack.up(owner_pid=os.getpid())
    os.environ.update(info.env)
    reset_settings()
    try:
        text = run(info.env["MLSYS_SERVICE_URL"], args)
    finally:
        stack.down()
    print(text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
