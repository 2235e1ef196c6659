"""Entry point of a Cloud Run Job task: ``python -m mlsys.jobs.predict --job-id J [--env E]``.

Cloud Run sets ``CLOUD_RUN_TASK_INDEX``, ``CLOUD_RUN_TASK_COUNT`` and ``CLOUD_RUN_TASK_ATTEMPT``
(read through :class:`mlsys.settings.Settings`). The task predicts its shard of the job's plan
and, if it is the last to finish, publishes the whole job. A non-zero exit makes Cloud Run
retry the task, which then replaces its own staged rows.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mlsys.errors import MlsysError
from mlsys.jobs.shard import run_task
from mlsys.logs import configure_logging, log_context
from mlsys.settings import get_settings

log = logging.getLogger("mlsys.jobs.predict")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlsys.jobs.predict", description="Predict one shard of a sharded job."
    )
    parser.add_argument("--job-id", required=True, help="the job planned by the launcher")
    parser.add_argument("--env", default=None, help="dev, staging or prod (default: MLSYS_ENV)")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging("job")
    index, count = settings.cloud_run_task_index, settings.cloud_run_task_count
    with log_context(job_id=args.job_id, task=index):
        try:
            outcome = run_task(
                args.env or settings.mlsys_env,
                args.job_id,
                index=index,
                count=count,
                attempt=settings.cloud_run_task_attempt,
            )
        except MlsysError as exc:
            log.error(
                "task %d/%d of job %s failed: %s: %s",
                index,
                count,
                args.job_id,
                exc.code,
                exc.message,
            )
            return 2 if exc.http_status < 500 else 1
        published = "" if outcome.published is None else f"; published {outcome.published} rows"
        log.info(
            "task %d/%d of job %s: %d rows staged%s",
            index,
            count,
            args.job_id,
            outcome.rows,
            published,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
