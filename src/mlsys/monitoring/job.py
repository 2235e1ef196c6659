"""A prediction job's monitoring: what it observes while it streams, what it records after.

The prediction pipeline calls this module in two places only:

- ``prepare_monitor(...)`` while preparing the job (user errors such as an unknown
  ``shadow_version`` surface there, before any row is read);
- ``monitor.observers`` passed to ``predict_stream``, then ``monitor.record()`` once the output
  is published.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from mlsys.errors import ConfigError, InvalidInput
from mlsys.identifiers import TableRef
from mlsys.monitoring.config import MonitoringConfig, load_monitoring
from mlsys.monitoring.drift import compare
from mlsys.monitoring.profile import Profile
from mlsys.monitoring.profiler import StreamProfiler
from mlsys.monitoring.reference import load_reference
from mlsys.monitoring.store import DriftRow, ShadowRow, record_drift, record_shadow, worst_status

if TYPE_CHECKING:
    from mlsys.monitoring.shadow import ShadowScorer
    from mlsys.predict.output import OutputPlan
    from mlsys.predict.pipeline import ResolvedModel
    from mlsys.predict.stream import StreamObserver

log = logging.getLogger(__name__)


@dataclass
class JobMonitor:
    """The observers of one job and what they found."""

    env: str
    job_id: str
    model_name: str
    model_version: int
    output_table: str
    config: MonitoringConfig
    reference: Profile | None = None
    profiler: StreamProfiler | None = None
    shadow: ShadowScorer | None = None
    shadow_version: int | None = None
    shadow_table: str | None = None

    @property
    def observers(self) -> list[StreamObserver]:
        return [o for o in (self.profiler, self.shadow) if o is not None]

    def record(self) -> str | None:
        """Append the drift rows and the shadow row; the worst drift status (None: no
        reference). Never raises: the output is already published when this runs."""
        status = None
        try:
            status = self._record_drift()
        except Exception:  # figures lost, output intact: say so loudly, keep the job's success
            log.exception("could not record the drift of job %s", self.job_id)
        try:
            self._record_shadow()
        except Exception:
            log.exception("could not record the shadow comparison of job %s", self.job_id)
        return status

    def _record_drift(self) -> str | None:
        if self.profiler is None or self.reference is None:
            return None
        found = compare(
            self.reference, self.profiler.profile(), self.config, model_name=self.model_name
        )
        at = dt.datetime.now(dt.UTC)
        rows = [
            DriftRow(
                job_id=self.job_id,
                model_name=self.model_name,
                model_version=self.model_version,
                created_at=at,
                **dataclasses.asdict(d),
            )
            for d in found
        ]
        record_drift(self.env, rows)
        status = worst_status(rows)
        alerts = [r.feature for r in rows if r.status != "ok"]
        log.log(
            logging.WARNING if alerts else logging.INFO,
            "drift of job %s: %s%s",
            self.job_id,
            status,
            f" ({', '.join(alerts)})" if alerts else "",
        )
        return status

    def _record_shadow(self) -> None:
        if self.shadow is None or self.shadow_version is None:
            return
        found = self.shadow.comparison()
        record_shadow(
            self.env,
            ShadowRow(
                job_id=self.job_id,
                model_name=self.model_name,
                model_version=self.model_version,
                shadow_version=self.shadow_version,
                output_table=self.output_table,
                shadow_table=self.shadow_table,
                rows=found.rows,
                agreement_metric=found.metric,
                shadow_agreement=found.agreement,
                psi=found.psi,
                js_distance=found.js_distance,
                labels=list(found.labels),
                champion=list(found.champion),
                challenger=list(found.challenger),
                created_at=dt.datetime.now(dt.UTC),
            ),
        )
        log.info(
            "shadow v%s of job %s: %s %s",
            self.shadow_version,
            self.job_id,
            found.metric,
            found.agreement,
        )


def monitoring_config() -> MonitoringConfig:
    """monitoring.yaml, or the defaults when it is invalid: a typo there must not stop
    predictions (logged as an error)."""
    try:
        return load_monitoring()
    except ConfigError as exc:
        log.error("using the default drift thresholds: %s", exc.message)
        return MonitoringConfig()


def prepare_monitor(
    *,
    env: str,
    job_id: str,
    model: ResolvedModel,
    input_schema: pa.Schema,
    output: OutputPlan,
    output_ref: TableRef,
    write_disposition: str,
    shadow_version: str | int | None = None,
    flush_rows: int = 0,
) -> JobMonitor:
    """The observers of a job: a profiler when the version has a reference profile, a
    shadow scorer when ``shadow_version`` is named (checked here, before any row is read)."""
    monitor = JobMonitor(
        env=env,
        job_id=job_id,
        model_name=model.model_name,
        model_version=model.version,
        output_table=str(output_ref),
        config=monitoring_config(),
    )
    row = getattr(model, "row", None)
    if row is not None:
        monitor.reference = load_reference(row, env=env)
    if monitor.reference is not None:
        monitor.profiler = StreamProfiler(monitor.reference, available=input_schema.names)
    if shadow_version is not None:
        _add_shadow(
            monitor,
            model,
            input_schema,
            output,
            output_ref,
            write_disposition,
            shadow_version,
            flush_rows,
        )
    return monitor


def _add_shadow(
    monitor: JobMonitor,
    champion: ResolvedModel,
    input_schema: pa.Schema,
    output: OutputPlan,
    output_ref: TableRef,
    disposition: str,
    shadow_version: str | int,
    flush_rows: int,
) -> None:
    # Imported here: the shadow scorer builds on mlsys.predict, which imports this module.
    from mlsys.monitoring.shadow import SHADOW_SUFFIX, ShadowScorer, agreement_for
    from mlsys.predict.features import check_input, plan_features
    from mlsys.predict.output import plan_output
    from mlsys.predict.pipeline import resolve_model
    from mlsys.predict.sinks import BigQuerySink

    challenger = resolve_model(monitor.env, champion.model_name, shadow_version)
    if challenger.version == champion.version:
        raise InvalidInput(
            f"shadow_version {shadow_version!r} is v{champion.version}, the version scoring the "
            "job: name another version to compare with"
        )
    features = plan_features(challenger.model, challenger.metadata)
    check_input(input_schema, features)
    shadow_output = plan_output(
        input_schema=input_schema,
        id_columns=list(output.id_columns),
        model=challenger.model,
        model_name=challenger.model_name,
        model_version=challenger.version,
        job_id=monitor.job_id,
    )
    shadow_output = dataclasses.replace(shadow_output, timestamp=output.timestamp)
    table = output_ref.with_table(f"{output_ref.table}{SHADOW_SUFFIX}")
    reference = monitor.reference.prediction if monitor.reference else None
    edges = reference.edges if reference is not None and reference.kind == "numeric" else None
    monitor.shadow = ShadowScorer(
        model=challenger.model,
        features=features,
        output=shadow_output,
        sink=BigQuerySink(
            table,
            job_id=monitor.job_id,
            disposition=disposition,
            flush_rows=flush_rows,
            env=monitor.env,
        ),
        agreement=agreement_for(champion.model, challenger.model, edges),
    )
    monitor.shadow_version, monitor.shadow_table = challenger.version, str(table)
