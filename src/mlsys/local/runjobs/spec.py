"""Each environment's Cloud Run Job as Terraform declares it (``google_cloud_run_v2_job``).

Read with the same loader as the IAM policy, for every environment root: name, task count,
parallelism, ``max_retries``, task timeout, command and args. A change in ``run.tf`` (say
``max_retries = 3``) changes what the local stack does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsys.local.iam.policy import module_arguments
from mlsys.local.runjobs.executions import Execution
from mlsys.local.terraform import Evaluator, TerraformError, load
from mlsys.settings import ENVIRONMENTS, Settings


@dataclass(frozen=True)
class JobSpec:
    """One job of one environment, with its full resource name on the local stack."""

    env: str
    name: str  # projects/P/locations/L/jobs/J
    task_count: int
    parallelism: int
    max_retries: int
    timeout_s: float
    command: tuple[str, ...]
    args: tuple[str, ...]
    service_account: str

    @property
    def job_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def to_api(self, account: str, executions: list[Execution]) -> dict[str, Any]:
        """The ``google.cloud.run.v2.Job`` resource (REST JSON); ``executions``: newest first."""
        body: dict[str, Any] = {
            "name": self.name,
            "uid": self.job_id,
            "launchStage": "GA",
            "executionCount": len(executions),
            "template": {
                "taskCount": self.task_count,
                "parallelism": self.parallelism,
                "template": {
                    "containers": [{"command": list(self.command), "args": list(self.args)}],
                    "maxRetries": self.max_retries,
                    "timeout": f"{self.timeout_s:g}s",
                    "serviceAccount": account,
                },
            },
        }
        if executions:
            latest = executions[0]
            body["latestCreatedExecution"] = {
                "name": latest.name,
                "createTime": latest.to_api()["createTime"],
            }
        return body


def job_specs(infra: Path, settings: Settings) -> dict[str, JobSpec]:
    """Every environment's jobs by resource name."""
    module = load(infra / "modules" / "mlsys")
    found: dict[str, JobSpec] = {}
    for env in ENVIRONMENTS:
        evaluator = Evaluator(module, module_arguments(infra, env))
        for resource, body in module.resources("google_cloud_run_v2_job").items():
            spec = _spec(env, evaluator, body, settings, f"google_cloud_run_v2_job.{resource}")
            found[spec.name] = spec
    return found


def _spec(
    env: str, evaluator: Evaluator, body: dict[str, Any], settings: Settings, where: str
) -> JobSpec:
    name = evaluator.value(body["name"])
    execution = evaluator.value(body["template"])[0]
    task = execution["template"][0]
    container = task["containers"][0]
    timeout = str(task.get("timeout", "600s"))
    values = {
        "name": name,
        "task_count": execution.get("task_count", 1),
        "parallelism": execution.get("parallelism", 0),
        "max_retries": task.get("max_retries", 3),  # Cloud Run's default
    }
    for key, value in values.items():
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise TerraformError(f"{where}: cannot evaluate {key} ({value})")
    if not timeout.endswith("s") or not timeout[:-1].replace(".", "", 1).isdigit():
        raise TerraformError(f"{where}: cannot evaluate timeout ({timeout})")
    project = settings.project_for(env)
    return JobSpec(
        env=env,
        name=f"projects/{project}/locations/{settings.gcp_region}/jobs/{name}",
        task_count=int(values["task_count"]),
        parallelism=int(values["parallelism"]),
        max_retries=int(values["max_retries"]),
        timeout_s=float(timeout[:-1]),
        command=tuple(container.get("command") or ()),
        args=tuple(container.get("args") or ()),
        service_account=str(task.get("service_account", "")),
    )
