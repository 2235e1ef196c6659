"""Sharded batch prediction on Cloud Run Jobs.

- :mod:`mlsys.jobs.launcher`: check the request, record the plan, start an execution of the
  env's job (``JobsClient.run_job`` with the task count and ``--job-id`` as overrides);
- :mod:`mlsys.jobs.predict`: the tasks' entry point (``python -m mlsys.jobs.predict``), reading
  ``CLOUD_RUN_TASK_INDEX`` / ``CLOUD_RUN_TASK_COUNT`` through the settings;
- :mod:`mlsys.jobs.shard`: one task: its shard, scored and staged in its own table;
- :mod:`mlsys.jobs.publish`: all shards into the output in one step, once.
"""

from mlsys.jobs.launcher import Launch, launch, plan_job
from mlsys.jobs.plan import ShardPlan, shard_store
from mlsys.jobs.shard import TaskOutcome, run_task

__all__ = ["Launch", "ShardPlan", "TaskOutcome", "launch", "plan_job", "run_task", "shard_store"]
