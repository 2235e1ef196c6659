"""The Cloud Run Admin API, as the job engine uses it: start an execution of the environment's
prediction job (``mlsys-predict-job-{env}``, Terraform ``google_cloud_run_v2_job.predict``) with
per-run args and task count, and read an execution's progress.

The google-cloud-run client speaks REST to ``MLSYS_CLOUD_RUN_ENDPOINT`` when set (the local
stack's stand-in, which runs each task as a local process), else to ``run.googleapis.com`` with
Application Default Credentials.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions

from mlsys.errors import AccessDenied, BackendUnavailable, ConfigError, NotFound
from mlsys.predict.plan import JobPlan
from mlsys.settings import Settings, check_env, get_settings

if TYPE_CHECKING:
    from google.cloud import run_v2

log = logging.getLogger(__name__)

#: The module every task runs (the image's ``python``; see infra/modules/mlsys/run.tf).
ENTRY_MODULE = "mlsys.predict.task"


def jobs_client(env: str, settings: Settings | None = None) -> run_v2.JobsClient:
    """A Cloud Run Jobs client (REST), pointed at ``MLSYS_CLOUD_RUN_ENDPOINT`` if set."""
    from google.cloud import run_v2

    return run_v2.JobsClient(**_client_args(settings or get_settings(), env))


def _client_args(settings: Settings, env: str) -> dict[str, Any]:
    if settings.cloud_run_endpoint:
        from mlsys.clients import emulator_credentials

        return {
            "credentials": emulator_credentials(settings, env),
            "transport": "rest",
            "client_options": ClientOptions(api_endpoint=settings.cloud_run_endpoint),
        }
    if settings.uses_emulators:
        raise ConfigError(
            "the local emulators are configured but MLSYS_CLOUD_RUN_ENDPOINT is not: refusing "
            "to start a real Cloud Run Job from a local stack"
        )
    return {"transport": "rest"}


def job_resource(env: str, settings: Settings | None = None) -> str:
    """``projects/{p}/locations/{region}/jobs/{name}`` of the env's prediction job."""
    settings = settings or get_settings()
    name = settings.predict_job_name or f"mlsys-predict-job-{check_env(env)}"
    project = settings.project_for(env)
    return f"projects/{project}/locations/{settings.gcp_region}/jobs/{name}"


def task_args(plan: JobPlan) -> list[str]:
    """The container args of every task: only ids, the rest is in the plan."""
    return ["-m", ENTRY_MODULE, "--env", plan.env, "--job-id", plan.job_id]


def run_job(plan: JobPlan) -> str:
    """Start an execution with the plan's args and task count; returns the execution name."""
    from google.cloud import run_v2

    overrides = run_v2.RunJobRequest.Overrides(
        container_overrides=[
            run_v2.RunJobRequest.Overrides.ContainerOverride(args=task_args(plan))
        ],
        task_count=plan.tasks,
    )
    request = run_v2.RunJobRequest(name=job_resource(plan.env), overrides=overrides)
    try:
        operation = jobs_client(plan.env).run_job(request=request)
    except gexc.NotFound:
        raise NotFound(f"Cloud Run job {request.name} does not exist") from None
    except gexc.Forbidden as exc:  # the caller's account may not run this job
        raise AccessDenied(f"Cloud Run refused to run {request.name}: {exc.message}") from None
    except gexc.GoogleAPICallError as exc:
        raise BackendUnavailable(f"Cloud Run refused to run {request.name}: {exc}") from None
    execution = operation.metadata
    name = getattr(execution, "name", "") or operation.operation.name
    log.info("job %s: started execution %s (%d tasks)", plan.job_id, name, plan.tasks)
    return str(name)


def execution_progress(env: str, execution: str) -> dict[str, int]:
    """Task counts of a Cloud Run execution (running, succeeded, failed, retried)."""
    from google.cloud import run_v2

    client = run_v2.ExecutionsClient(**_client_args(get_settings(), env))
    found = client.get_execution(name=execution)
    return {
        "task_count": found.task_count,
        "running": found.running_count,
        "succeeded": found.succeeded_count,
        "failed": found.failed_count,
        "retried": found.retried_count,
        "done": int(bool(found.completion_time)),
    }
