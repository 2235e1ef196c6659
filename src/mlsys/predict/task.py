"""Entry point of a Cloud Run Job task: ``python -m mlsys.predict.task --job-id J [--env E]``.

Cloud Run sets ``CLOUD_RUN_TASK_INDEX``, ``CLOUD_RUN_TASK_COUNT`` and ``CLOUD_RUN_TASK_ATTEMPT``
(read through :class:`mlsys.settings.Settings`). The task stages its shard of the job's stored
plan (waiting for a live holder of the same shard, e.g. a task of an earlier execution) and, if
every shard is staged, publishes the job. A non-zero exit makes Cloud Run retry the task, which
then finds its shard staged, or takes it over from the attempt that died.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mlsys.errors import ConfigError, MlsysError
from mlsys.logs import configure_logging, log_context
from mlsys.predict.ledger import ledger
from mlsys.predict.publish import publish_if_complete
from mlsys.predict.records import JobStatus, job_store, transition
from mlsys.predict.shard import heartbeat, prepare, record_failure, stage_shard
from mlsys.predict.stream import Progress
from mlsys.settings import get_settings

log = logging.getLogger("mlsys.predict.task")


def run_task(env: str, job_id: str, *, index: int, count: int, attempt: int = 0) -> int | None:
    """Stage shard ``index`` of job ``job_id`` and publish if it is the last; rows published
    by this task, or None."""
    plan = ledger(env).plan(job_id)
    if count != plan.tasks or not 0 <= index < count:
        raise ConfigError(
            f"task {index} of {count}: job {job_id} was planned for {plan.tasks} tasks "
            "(start it with the plan's task count)"
        )
    store = job_store(env)
    record = store.get(job_id)
    if record is None:
        raise ConfigError(f"job {job_id} has a plan but no record: it was never submitted")
    planned = prepare(plan)

    def start() -> Progress:
        others = sum(s.rows for s in ledger(env).staged(job_id).values())
        running = transition(store, record, JobStatus.RUNNING, rows_done=others)
        return heartbeat(running, base=others)

    try:
        stage_shard(planned, index, attempt=attempt, wait=True, start=start)
        return publish_if_complete(plan, wait=True)
    except BaseException as exc:
        record_failure(store.get(job_id) or record, index, attempt, exc)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlsys.predict.task", description="Predict one shard of a job."
    )
    parser.add_argument("--job-id", required=True, help="the job the service submitted")
    parser.add_argument("--env", default=None, help="dev, staging or prod (default: MLSYS_ENV)")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging("job")
    index, count = settings.cloud_run_task_index, settings.cloud_run_task_count
    with log_context(job_id=args.job_id, task=index):
        return _run(args.env or settings.mlsys_env, args.job_id, index, count)


def _run(env: str, job_id: str, index: int, count: int) -> int:
    settings = get_settings()
    try:
        published = run_task(
            env,
            job_id,
            index=index,
            count=count,
            attempt=settings.cloud_run_task_attempt,
        )
    except MlsysError as exc:
        log.error(
            "task %d/%d of job %s failed: %s: %s", index, count, job_id, exc.code, exc.message
        )
        return 2 if exc.http_status < 500 else 1
    done = "" if published is None else f"; published {published} rows"
    log.info("task %d/%d of job %s done%s", index, count, job_id, done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
