"""A prediction job's monitoring: what each shard observes while it streams, what the publisher
records once the output is published.

The prediction engine calls this module in two places only:

- ``shard_monitor(...)`` while a shard starts streaming: its observers (a profiler when the
  version has a reference profile, a shadow scorer when the plan names a challenger) go to
  ``predict_stream``, and ``monitor.payload()`` (the shard's profile and shadow comparison) is
  stored in the job ledger with the staged shard;
- ``record_job_monitoring(plan, payloads)`` by whoever publishes the job: the shards' profiles
  merged into the job's, compared with the reference, appended as drift rows (and the shadow
  row), before the job is recorded as succeeded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlsys.errors import ConfigError
from mlsys.monitoring.config import MonitoringConfig, load_monitoring
from mlsys.monitoring.drift import compare
from mlsys.monitoring.profile import Profile
from mlsys.monitoring.profiler import StreamProfiler
from mlsys.monitoring.reference import load_reference
from mlsys.monitoring.store import DriftRow, ShadowRow, record_drift, record_shadow, worst_status

if TYPE_CHECKING:
    from mlsys.monitoring.shadow import ShadowScorer
    from mlsys.predict.plan import JobPlan, PlannedJob
    from mlsys.predict.staging import BatchSink
    from mlsys.predict.stream import StreamObserver

log = logging.getLogger(__name__)


@dataclass
class ShardMonitor:
    """The observers of one shard and what they found."""

    profiler: StreamProfiler | None = None
    shadow: ShadowScorer | None = None

    @property
    def observers(self) -> list[StreamObserver]:
        return [o for o in (self.profiler, self.shadow) if o is not None]

    def payload(self) -> dict[str, Any]:
        """What the ledger keeps with the staged shard (JSON-serializable)."""
        found: dict[str, Any] = {}
        if self.profiler is not None:
            found["profile"] = self.profiler.profile().to_json()
        if self.shadow is not None:
            found["shadow"] = dataclasses.asdict(self.shadow.comparison())
        return found


def monitoring_config() -> MonitoringConfig:
    """monitoring.yaml, or the defaults when it is invalid: a typo there must not stop
    predictions (logged as an error)."""
    try:
        return load_monitoring()
    except ConfigError as exc:
        log.error("using the default drift thresholds: %s", exc.message)
        return MonitoringConfig()


def shard_monitor(
    planned: PlannedJob, input_schema: pa.Schema, shadow_sink: BatchSink | None
) -> ShardMonitor:
    """The observers of a shard: a profiler when the version has a reference profile, a shadow
    scorer writing to ``shadow_sink`` when the plan names a challenger."""
    plan = planned.plan
    monitor = ShardMonitor()
    row = planned.model.row
    reference = load_reference(row, env=plan.env) if row is not None else None
    if reference is not None:
        monitor.profiler = StreamProfiler(reference, available=input_schema.names)
    if plan.shadow_version is not None and shadow_sink is not None:
        monitor.shadow = _shadow_scorer(planned, input_schema, shadow_sink, reference)
    return monitor


def _shadow_scorer(
    planned: PlannedJob, input_schema: pa.Schema, sink: BatchSink, reference: Profile | None
) -> ShadowScorer:
    # Imported here: the shadow scorer builds on mlsys.predict, which imports this module.
    from mlsys.monitoring.shadow import ShadowScorer, agreement_for
    from mlsys.predict.features import plan_features
    from mlsys.predict.plan import resolve_model, shadow_plan

    plan = planned.plan
    assert plan.shadow_version is not None
    challenger = planned.shadow or resolve_model(
        plan.env, plan.model_name, plan.shadow_version, allow_archived=True
    )
    prediction = reference.prediction if reference else None
    edges = prediction.edges if prediction is not None and prediction.kind == "numeric" else None
    return ShadowScorer(
        model=challenger.model,
        features=plan_features(challenger.model, challenger.metadata),
        output=shadow_plan(challenger, input_schema, planned.output),
        sink=sink,
        agreement=agreement_for(planned.model.model, challenger.model, edges),
    )


def record_job_monitoring(plan: JobPlan, payloads: Sequence[dict[str, Any]]) -> str | None:
    """Append the job's drift rows and shadow row; the worst drift status (None: no
    reference). Never raises: the output is already published when this runs."""
    status = None
    try:
        profiles = [Profile.from_json(p["profile"]) for p in payloads if p.get("profile")]
        if profiles and len(profiles) == len(payloads):
            status = _record_drift(plan, profiles)
    except Exception:  # figures lost, output intact: say so loudly, keep the job's success
        log.exception("could not record the drift of job %s", plan.job_id)
    try:
        shadows = [p["shadow"] for p in payloads if p.get("shadow")]
        if len(shadows) == 1:
            _record_shadow(plan, shadows[0])
    except Exception:
        log.exception("could not record the shadow comparison of job %s", plan.job_id)
    return status


def _record_drift(plan: JobPlan, profiles: list[Profile]) -> str | None:
    from mlsys.registry import get_version

    reference = load_reference(
        get_version(plan.env, plan.model_name, plan.model_version), env=plan.env
    )
    if reference is None:
        return None
    merged = profiles[0]
    for other in profiles[1:]:
        merged = merged.merge(other)
    found = compare(reference, merged, monitoring_config(), model_name=plan.model_name)
    at = dt.datetime.now(dt.UTC)
    rows = [
        DriftRow(
            job_id=plan.job_id,
            model_name=plan.model_name,
            model_version=plan.model_version,
            created_at=at,
            **dataclasses.asdict(d),
        )
        for d in found
    ]
    record_drift(plan.env, rows)
    status = worst_status(rows)
    alerts = [r.feature for r in rows if r.status != "ok"]
    log.log(
        logging.WARNING if alerts else logging.INFO,
        "drift of job %s: %s%s",
        plan.job_id,
        status,
        f" ({', '.join(alerts)})" if alerts else "",
    )
    return status


def _record_shadow(plan: JobPlan, found: dict[str, Any]) -> None:
    assert plan.shadow_version is not None
    record_shadow(
        plan.env,
        ShadowRow(
            job_id=plan.job_id,
            model_name=plan.model_name,
            model_version=plan.model_version,
            shadow_version=plan.shadow_version,
            output_table=plan.output_table,
            shadow_table=plan.shadow_table,
            rows=found["rows"],
            agreement_metric=found["metric"],
            shadow_agreement=found["agreement"],
            psi=found["psi"],
            js_distance=found["js_distance"],
            labels=list(found["labels"]),
            champion=list(found["champion"]),
            challenger=list(found["challenger"]),
            created_at=dt.datetime.now(dt.UTC),
        ),
    )
    log.info(
        "shadow v%s of job %s: %s %s",
        plan.shadow_version,
        plan.job_id,
        found["metric"],
        found["agreement"],
    )
