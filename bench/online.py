"""Online prediction benchmark: the service against the bare model call, side by side.

    uv run python bench/online.py                # print the figures
    uv run python bench/online.py --write-docs   # ... and put them in docs/benchmarks.md

On its own local stack (started here in a temporary folder), with the demo model (the Titanic
Pipeline: ColumnTransformer over raw columns with NULLs, LogisticRegression) published through
the real registry function and served by the stack's uvicorn (one process, as `mlsys local up`
and Cloud Run run it):

1. latency of 1-row and 100-row requests, one client with a keep-alive connection
   (``http.client``), against the bare in-process ``model.predict`` of the same rows (a
   DataFrame built beforehand) and against the service's ASGI app called in this process (our
   code without the loopback hop), alternating call by call so that the shared machine's load
   hits all alike; the same for a version with a registered ONNX export (served by onnxruntime
   once its trial chose it);
2. requests/s of 1-row requests with 1, 8 and 32 concurrent clients (asyncio connections with
   keep-alive on loopback, a fixed number of requests in flight), in interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
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

        await self.app(scope, receive, send)
        headers = dict(sent[0]["headers"])
        body_out = b"".join(m.get("body", b"") for m in sent[1:])
        return sent[0]["status"], body_out, headers.get(b"x-mlsys-runtime", b"").decode()


def latency(
    client: Client, local: InProcess, name: str, model: Any, frame: Any, n: int, iterations: int
) -> dict[str, Any]:
    rows = frame.iloc[:n].reset_index(drop=True)
    body = json.dumps({"instances": rows_of(rows)}).encode()
    path = f"/models/{name}/versions/v1:predict"
    for _ in range(20):  # warm: caches, the ONNX trial, the first calls' one-off costs
        for target in (client, local):
            status, data, runtime = target.post(path, body)
            assert status == 200, data
        model.predict(rows)
    times: dict[str, list[float]] = {"bare": [], "service": [], "in-process": []}
    for _ in range(iterations):  # alternating, so that the machine's load hits all alike
        start = time.perf_counter()
        model.predict(rows)
        times["bare"].append(time.perf_counter() - start)
        for key, target in (("service", client), ("in-process", local)):
            start = time.perf_counter()
            status, data, runtime = target.post(path, body)
            times[key].append(time.perf_counter() - start)
            assert status == 200, data
    return {**times, "runtime": runtime}


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
    routed = InProcess(online_path=False)
    steps = {
        "bare `model.predict(DataFrame)`": lambda: model.predict(rows),
        "`model.predict_proba` (labels and probabilities)": lambda: model.predict_proba(x),
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
    times: dict[str, list[float]] = {key: [] for key in steps}
    for _ in range(iterations):
        for key, step in steps.items():
            start = time.perf_counter()
            step()
            times[key].append(time.perf_counter() - start)
    lines = ["| step (1 row, in-process) | p50 (ms) |", "|---|---:|"]
    lines += [f"| {key} | {statistics.median(v) * ms:.3f} |" for key, v in times.items()]
    return "\n".join(lines)


# -- throughput -----------------------------------------------------------------------------------
async def _one_client(host: str, port: int, request: bytes, deadline: float, out: list[float]):
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
    lat = {
        (rows, name): latency(client, local, name, model, frame, n, args.iterations)
        for name in (plain, with_onnx)
        for rows, n in (("1 row", 1), ("100 rows", 100))
    }
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
    )


def report(lat, rounds, args, before, after, onnx_status) -> str:  # type: ignore[no-untyped-def]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    out = [
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
        f"{load:.1f} at the end; model: the demo Pipeline (titanic-survival); service: the local "
        "stack's uvicorn (one process); client: keep-alive on loopback. Run: "
        f"`uv run python bench/online.py` ({args.iterations} calls per latency row, "
        f"{args.rounds} rounds of {args.seconds:.0f} s per concurrency).",
        "",
        "| request | served by | bare `model.predict` p50 / p99 (ms) | service over HTTP p50 / "
        "p99 (ms) | HTTP - bare at p50 (ms) | in-process app p50 (ms) | in-process - bare at p50 "
        "(ms) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (rows, _), result in lat.items():
        bare, service, local = result["bare"], result["service"], result["in-process"]
        p50 = {k: statistics.median(v) * ms for k, v in (("b", bare), ("s", service), ("l", local))}
        out.append(
            f"| {rows} | {result['runtime']} | {p50['b']:.2f} / {pct(bare, 0.99) * ms:.2f} | "
            f"{p50['s']:.2f} / {pct(service, 0.99) * ms:.2f} | {p50['s'] - p50['b']:+.2f} | "
            f"{p50['l']:.2f} | {p50['l'] - p50['b']:+.2f} |"
        )
    out += [
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
    first = lat[next(iter(lat))]
    bare_p50 = statistics.median(first["bare"])
    overhead = (statistics.median(first["service"]) - bare_p50) * ms
    in_process = (statistics.median(first["in-process"]) - bare_p50) * ms
    out += [
        "",
        f"Model calls during the throughput runs: {batches:,} for {requests:,} requests "
        f"({requests / max(batches, 1):.1f} requests per call). ONNX export: "
        f"{onnx_status['decision']}.",
        "",
        "Targets:",
        f"- service - bare at p50, 1 row (scikit-learn both): {overhead:.2f} ms over HTTP, "
        f"{in_process:.2f} ms in-process (target <= 3)",
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
    sys.exit(main())
