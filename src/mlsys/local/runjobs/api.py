"""The Cloud Run Admin API v2 subset, over REST, as the google-cloud-run client calls it.

=========================================================  ===============================
request                                                    permission (on the job)
=========================================================  ===============================
``GET /v2/{job}``                                          ``run.jobs.get``
``POST /v2/{job}:run`` (overrides: args, env, task count,  ``run.jobs.run`` (+
timeout) -> an Operation whose metadata is the Execution   ``run.jobs.runWithOverrides``)
``GET /v2/{job}/executions``, ``GET /v2/{execution}``      ``run.executions.list|get``
``POST /v2/{execution}:cancel``                            ``run.executions.cancel``
``GET /v2/{execution}/tasks``                              ``run.tasks.list``
``GET /v2/projects/P/locations/L/operations/O``            ``run.executions.get`` (its
                                                           execution's job)
=========================================================  ===============================

The identity is the bearer token's, checked against the policy derived from ``infra/`` (the
service's ``roles/run.jobsExecutorWithOverrides`` and ``roles/run.viewer`` on its job); no token
is the project owner. Each run starts a runner process (:mod:`.runner`); a runner that died is
started again on its execution, which goes on from what it had recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import sys
import uuid
from pathlib import Path
from typing import Any

import psutil
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse

from mlsys.local import processes
from mlsys.local.components import HEALTH_PATH
from mlsys.local.iam import Check, Policy, derive_policy
from mlsys.local.proxy import errors
from mlsys.local.proxy.rest import Unauthenticated, principal_of
from mlsys.local.runjobs.executions import Execution, all_executions
from mlsys.local.runjobs.spec import JobSpec, job_specs
from mlsys.settings import get_settings

log = logging.getLogger("mlsys.local.runjobs")

_JOB = r"^/v2/(projects/[^/]+/locations/[^/]+/jobs/[^/:]+)"
_ROUTES = [
    ("GET", re.compile(_JOB + r"$"), "get_job"),
    ("POST", re.compile(_JOB + r":run$"), "run_job"),
    ("GET", re.compile(_JOB + r"/executions$"), "list_executions"),
    ("GET", re.compile(_JOB + r"/executions/([^/:]+)$"), "get_execution"),
    ("POST", re.compile(_JOB + r"/executions/([^/:]+):cancel$"), "cancel_execution"),
    ("GET", re.compile(_JOB + r"/executions/([^/:]+)/tasks$"), "list_tasks"),
    ("GET", re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+)/operations/([^/:]+)$"), "operation"),
]
RESTART_GRACE_S = 30.0


class NotFoundError(Exception):
    pass


class RunApi:
    """The ASGI app: routes, IAM, executions on disk."""

    def __init__(self, jobs: dict[str, JobSpec], policy: Policy, folder: Path) -> None:
        self.jobs = jobs
        self.policy = policy
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.started: dict[str, float] = {}  # execution -> when its runner was (re)started

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self)
            return
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> JSONResponse:
        path = request.url.path
        if path == HEALTH_PATH:
            return JSONResponse({"status": "ok", "jobs": sorted(self.jobs)})
        try:
            principal = principal_of(request.headers.get("authorization"))
        except Unauthenticated as exc:
            return JSONResponse(errors.unauthenticated(exc.token), status_code=401)
        for method, pattern, handler in _ROUTES:
            match = pattern.match(path)
            if match and request.method == method:
                try:
                    return await getattr(self, handler)(request, principal, *match.groups())
                except NotFoundError as exc:
                    return _error(404, "NOT_FOUND", f"Resource '{exc}' was not found")
                except _Denied as denied:
                    body = errors.run_denied(denied.check, self.policy.email(principal))
                    return JSONResponse(body, status_code=403)
        return _error(404, "NOT_FOUND", f"{request.method} {path} is not a Cloud Run API call")

    # -- jobs --------------------------------------------------------------------------------------
    async def get_job(self, request: Request, principal: str | None, job: str) -> JSONResponse:
        spec = self._job(job, principal, "run.jobs.get")
        executions = [e for e in all_executions(self.folder) if e.job == job]
        account = self.policy.email(f"job@{spec.env}")
        return JSONResponse(spec.to_api(account, executions))

    async def run_job(self, request: Request, principal: str | None, job: str) -> JSONResponse:
        payload = await _json(request)
        overrides = payload.get("overrides") or {}
        spec = self._job(job, principal, "run.jobs.run")
        if overrides:
            self._check(principal, "run.jobs.runWithOverrides", job)
        container = (overrides.get("containerOverrides") or [{}])[0]
        args = list(spec.args)
        if container.get("args") or container.get("clearArgs"):
            args = list(container.get("args") or [])
        timeout = str(overrides.get("timeout") or f"{spec.timeout_s}s")
        project, location = job.split("/")[1], job.split("/")[3]
        execution = Execution(
            name=f"{job}/executions/{spec.job_id}-{secrets.token_hex(3)[:5]}",
            env=spec.env,
            operation=f"projects/{project}/locations/{location}/operations/{uuid.uuid4()}",
            creator=self.policy.email(principal),
            task_count=int(overrides.get("taskCount") or spec.task_count),
            parallelism=spec.parallelism,
            max_retries=spec.max_retries,
            timeout_s=float(timeout.removesuffix("s")),
            command=list(spec.command),
            args=args,
            variables={v["name"]: v.get("value", "") for v in container.get("env") or []},
        )
        if execution.task_count < 1:
            return _error(400, "INVALID_ARGUMENT", "taskCount must be at least 1")
        execution.save(self.folder)
        self._start_runner(execution)
        log.info(
            "%s ran %s: %s (%d tasks)",
            principal or "owner",
            job,
            execution.execution_id,
            execution.task_count,
        )
        return JSONResponse(execution.operation_body())

    # -- executions ------------------------------------------------------------------------------
    async def list_executions(
        self, request: Request, principal: str | None, job: str
    ) -> JSONResponse:
        self._job(job, principal, "run.executions.list")
        found = [e.to_api() for e in all_executions(self.folder) if e.job == job]
        return JSONResponse({"executions": found})

    async def get_execution(
        self, request: Request, principal: str | None, job: str, eid: str
    ) -> JSONResponse:
        return JSONResponse(self._execution(job, eid, principal, "run.executions.get").to_api())

    async def cancel_execution(
        self, request: Request, principal: str | None, job: str, eid: str
    ) -> JSONResponse:
        execution = self._execution(job, eid, principal, "run.executions.cancel")
        if not execution.done:
            runner = _alive(execution.runner_pid, execution.runner_create_time)
            if runner is not None:
                runner.terminate()  # the runner stops its tasks and records the cancellation
            else:
                execution.cancel_requested = True
                execution.save(self.folder)
                self._start_runner(execution)
        return JSONResponse(execution.operation_body())

    async def list_tasks(
        self, request: Request, principal: str | None, job: str, eid: str
    ) -> JSONResponse:
        execution = self._execution(job, eid, principal, "run.tasks.list")
        tasks = [
            {
                "name": f"{execution.name}/tasks/{execution.execution_id}-task{t.index}",
                "index": t.index,
                "retried": max(len(t.attempts) - 1, 0),
                "logUri": t.attempts[-1].log if t.attempts else "",
                "conditions": [{"type": "Completed", "state": t.status.upper()}],
            }
            for t in execution.tasks
        ]
        return JSONResponse({"tasks": tasks})

    async def operation(
        self, request: Request, principal: str | None, parent: str, op: str
    ) -> JSONResponse:
        name = f"{parent}/operations/{op}"
        for execution in all_executions(self.folder):
            if execution.operation == name:
                self._check(principal, "run.executions.get", execution.job)
                return JSONResponse(execution.operation_body())
        raise NotFoundError(name)

    # -- helpers -----------------------------------------------------------------------------------
    def _job(self, job: str, principal: str | None, permission: str) -> JobSpec:
        self._check(principal, permission, job)
        spec = self.jobs.get(job)
        if spec is None:
            raise NotFoundError(job)
        return spec

    def _execution(self, job: str, eid: str, principal: str | None, permission: str) -> Execution:
        self._check(principal, permission, f"{job}/executions/{eid}")
        path = self.folder / f"{eid}.json"
        if not path.is_file():
            raise NotFoundError(f"{job}/executions/{eid}")
        return Execution.load(path)

    def _check(self, principal: str | None, permission: str, resource: str) -> None:
        if not self.policy.allows(principal, permission, resource):
            log.warning("denied %s %s on %s", principal, permission, resource)
            raise _Denied(Check(permission, resource))

    def _start_runner(self, execution: Execution) -> None:
        self.started[execution.execution_id] = asyncio.get_running_loop().time()
        processes.spawn(
            "runner",
            [
                sys.executable,
                "-m",
                "mlsys.local.runjobs.runner",
                str(self.folder / f"{execution.execution_id}.json"),
            ],
            port=0,
            url="-",
            log_path=self.folder / execution.execution_id / "runner.log",
            env=dict(os.environ),
            cwd=Path.cwd(),
        )

    async def reconcile(self) -> None:
        """Reap finished runners; start a runner again on an execution whose runner died."""
        while True:
            await asyncio.sleep(1.0)
            _reap()
            now = asyncio.get_running_loop().time()
            for execution in all_executions(self.folder):
                if (
                    execution.done
                    or now - self.started.get(execution.execution_id, -1e9) < RESTART_GRACE_S
                ):
                    continue
                if _alive(execution.runner_pid, execution.runner_create_time) is None:
                    log.warning("runner of %s is gone: starting it again", execution.execution_id)
                    self._start_runner(execution)


class _Denied(Exception):
    def __init__(self, check: Check) -> None:
        self.check = check


def _alive(pid: int, create_time: float) -> psutil.Process | None:
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    return None


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _error(code: int, status: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "status": status}}, status_code=code
    )


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


async def _lifespan(receive: Any, send: Any, api: RunApi) -> None:
    task = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            task = asyncio.get_running_loop().create_task(api.reconcile())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if task is not None:
                task.cancel()
            await send({"type": "lifespan.shutdown.complete"})
            return


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mlsys.local.runjobs", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--infra", required=True, help="the Terraform folder (infra/)")
    parser.add_argument("--state", required=True, help="where executions are recorded")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    infra = Path(args.infra)
    api = RunApi(job_specs(infra, settings), derive_policy(infra, settings), Path(args.state))
    uvicorn.run(
        api, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, lifespan="on"
    )
