"""Two engines, one plan: where a validated request runs.

- ``service``: in this process, now (the service's request, or the CLI's process): stage the one
  shard, publish, answer with the finished record. A concurrent request with the same ``job_id``
  finds the shard's claim held and gets a 409 naming the running job; a retry after success gets
  the same record back; a retry after a crash takes the job over once the lease ran out.
- ``job``: a Cloud Run Job execution of ``tasks`` shards (``async``, sharded and scheduled runs):
  plan and check everything, record the plan, start the execution, answer 202. Nothing runs in
  the service after its answer, so a scale-down or a redeploy never kills a job. Concurrent
  submissions of one ``job_id`` start one execution (the ``submit`` claim).

Both record the job through the same transitions (:mod:`mlsys.predict.records`), stage through
:mod:`mlsys.predict.shard` and publish through :mod:`mlsys.predict.publish`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlsys.errors import JobConflict
from mlsys.logs import log_context
from mlsys.predict import cloudrun
from mlsys.predict.claims import Claim, ClaimHeld, ClaimLost
from mlsys.predict.ledger import ledger
from mlsys.predict.plan import JobPlan, PlannedJob, plan
from mlsys.predict.publish import cleanup, publish_if_complete
from mlsys.predict.records import (
    JobRecord,
    JobStatus,
    fail,
    job_store,
    transition,
)
from mlsys.predict.request import Engine, PredictionRequest
from mlsys.predict.shard import heartbeat, stage_shard
from mlsys.predict.stream import Progress
from mlsys.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    """What a submission answers: the job's record, and whether it is finished (200) or
    accepted to run elsewhere (202)."""

    record: JobRecord
    accepted: bool


def submit(request: PredictionRequest, *, progress: Progress | None = None) -> Submission:
    """Run ``request`` with its engine; user errors raise before anything is written."""
    planned = plan(request)
    if request.effective_engine == Engine.JOB:
        return Submission(launch(planned), accepted=True)
    return Submission(run_here(planned, progress=progress), accepted=False)


def get_job(env: str, job_id: str) -> JobRecord:
    """The latest record of a job as a reader should see it (``stalled`` if its worker died)."""
    from mlsys.errors import JobNotFound
    from mlsys.predict.records import check_job_id
    from mlsys.settings import check_env

    store = job_store(check_env(env))
    record = store.get(check_job_id(job_id))
    if record is None:
        raise JobNotFound(f"no prediction job {job_id!r} in {env}")
    if record.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        published = ledger(env).published(job_id)
        if published is not None:  # its publisher died between the publish and the record
            record = transition(store, record, JobStatus.SUCCEEDED, rows_written=published)
    return record.reported(get_settings().job_lease_seconds)


# -- engine "service": here, now ------------------------------------------------------------
def run_here(planned: PlannedJob, *, progress: Progress | None = None) -> JobRecord:
    """Stage the single shard and publish it in this process; returns the finished record."""
    job = planned.plan
    with log_context(job_id=job.job_id, model=job.model_name, version=job.model_version):
        return _run_here(planned, progress)


def _run_here(planned: PlannedJob, progress: Progress | None) -> JobRecord:
    job = planned.plan
    store = job_store(job.env)
    done = _finished(job)
    if done is not None:
        return done
    _record_plan(job)
    started: list[JobRecord] = []

    def start() -> Progress:
        started.append(transition(store, _new_record(job), JobStatus.RUNNING))
        return heartbeat(started[0])

    try:
        stage_shard(planned, 0, start=start, progress=progress)
        publish_if_complete(job, wait=True)
    except ClaimHeld as exc:
        raise JobConflict(exc.message, details=exc.details) from None
    except ClaimLost:
        raise  # a successor took the job over: its record and tables are its own (409)
    except BaseException as exc:
        fail(store, started[0] if started else _new_record(job), exc)
        _drop_leftovers(job)
        raise
    return _outcome(job)


def _outcome(job: JobPlan) -> JobRecord:
    """The finished record (written here if a predecessor published but never recorded it)."""
    store = job_store(job.env)
    record = store.get(job.job_id) or _new_record(job)
    published = ledger(job.env).published(job.job_id)
    if record.status != JobStatus.SUCCEEDED and published is not None:
        record = transition(store, record, JobStatus.SUCCEEDED, rows_written=published)
    return record


# -- engine "job": a Cloud Run Job execution ------------------------------------------------
def launch(planned: PlannedJob) -> JobRecord:
    """Record the plan and start ONE execution for the job id; returns the queued record."""
    job = planned.plan
    store = job_store(job.env)
    lease = get_settings().job_lease_seconds
    current = store.get(job.job_id)
    if current is not None:
        shown = current.reported(lease)
        if shown.status in (JobStatus.SUCCEEDED, JobStatus.QUEUED, JobStatus.RUNNING):
            _check_same(job)
            return shown  # done, or on its way: a retry never starts a second execution
    claim = Claim(job.env, job.job_id, "submit")
    try:
        claim.acquire()
    except ClaimHeld:
        _check_same(job)
        return store.get(job.job_id) or _new_record(job, JobStatus.QUEUED)
    try:
        record = enqueue(job)
        execution = cloudrun.run_job(job)
        ledger(job.env).launched(job.job_id, execution)
        record = transition(store, record, JobStatus.QUEUED, execution=execution)
        claim.renew(state="done")
    except BaseException as exc:
        claim.release()
        fail(store, store.get(job.job_id) or _new_record(job), exc, where="launch: ")
        raise
    return record


def enqueue(job: JobPlan) -> JobRecord:
    """Record the plan (the first one wins: another request under this id is a 409) and the
    job as ``queued``: what an execution's tasks need to find it."""
    _record_plan(job)
    return transition(job_store(job.env), _new_record(job), JobStatus.QUEUED)


# -- shared -------------------------------------------------------------------------------------
def _new_record(job: JobPlan, status: JobStatus = JobStatus.RUNNING) -> JobRecord:
    return JobRecord(
        job_id=job.job_id,
        env=job.env,
        status=status,
        input_table=job.input_table,
        output_table=job.output_table,
        model_name=job.model_name,
        model_version=job.model_version,
        write_disposition=job.write_disposition,
        rows_total=job.rows_total,
        engine=job.engine,
        tasks=job.tasks,
    )


def _finished(job: JobPlan) -> JobRecord | None:
    """The record of a job that already succeeded under this id (after checking it is the same
    job, not another one reusing the id)."""
    record = job_store(job.env).get(job.job_id)
    if record is None or record.status != JobStatus.SUCCEEDED:
        return None
    _check_same(job)
    return record


def _record_plan(job: JobPlan) -> None:
    """Store the job's plan unless it has one; the FIRST plan is the job's, whoever wrote it:
    a different request under the same id is refused (409)."""
    book = ledger(job.env)
    if book.find_plan(job.job_id) is None:
        book.save_plan(job)
    _check_same(job)


def _check_same(job: JobPlan) -> None:
    first = ledger(job.env).find_plan(job.job_id)
    if first is not None and not first.same_request(job):
        raise JobConflict(
            f"job id {job.job_id} was already used for {first.model_name}: "
            f"{first.input_table} -> {first.output_table} ({first.write_disposition}, "
            f"{first.tasks} task(s)); use a new job id"
        )


def _drop_leftovers(job: JobPlan) -> None:
    """After a failed run in this process: its staging and claim tables go (they would expire)."""
    try:
        cleanup(job, failed=True)
    except Exception as exc:  # the job's own error matters more than its leftovers
        log.warning("job %s: cleanup after failure: %s", job.job_id, exc)
