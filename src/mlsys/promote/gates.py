"""Promotion gates: each check returns pass/fail/skip with the evidence it looked at.

Order matters: a gate that needs what an earlier gate failed to establish is skipped (and the
promotion refused), never guessed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlsys.errors import MlsysError, ModelNotFound, VersionNotFound
from mlsys.promote.config import ModelPolicy, PromotionConfig
from mlsys.registry import ModelVersion, get_version
from mlsys.settings import ENVIRONMENTS, Settings, get_settings

if TYPE_CHECKING:
    from mlsys.identifiers import TableRef

log = logging.getLogger("mlsys.promote")

GateStatus = Literal["pass", "fail", "skip"]
GATES = ("registered", "metadata", "metrics", "schema", "smoke")  # + "agreement" when asked


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict and the evidence behind it."""

    gate: str
    status: GateStatus
    evidence: str

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, str]:
        return {"gate": self.gate, "status": self.status, "evidence": self.evidence}


@dataclass
class Candidate:
    """What the gates examine: a version of ``model_name`` in ``from_env`` bound for ``to_env``."""

    model_name: str
    version: int
    from_env: str
    to_env: str
    config: PromotionConfig
    found: ModelVersion | None = None
    serving: ModelVersion | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def policy(self) -> ModelPolicy | None:
        return self.config.policy(self.model_name)

    @property
    def mv(self) -> ModelVersion:
        assert self.found is not None, "the registered gate runs first"
        return self.found


def run_gates(
    candidate: Candidate, *, on_result: Callable[[GateResult], None] | None = None
) -> list[GateResult]:
    """Every gate in order; a gate whose prerequisite failed is reported as skipped."""
    results: list[GateResult] = []
    checks: list[tuple[str, Callable[[Candidate], GateResult], tuple[str, ...]]] = [
        ("registered", gate_registered, ()),
        ("metadata", gate_metadata, ("registered",)),
        ("metrics", gate_metrics, ("registered", "metadata")),
        ("schema", gate_schema, ("registered", "metadata")),
        ("smoke", gate_smoke, ("registered",)),
    ]
    policy = candidate.policy
    if policy is not None and policy.wants_agreement:  # asked for in promotion.yaml only
        from mlsys.promote.agreement import gate_agreement

        checks.append(("agreement", gate_agreement, ("registered", "schema")))
    status: dict[str, GateStatus] = {}
    for name, check, needs in checks:
        missing = [n for n in needs if status.get(n) != "pass"]
        if missing:
            result = GateResult(name, "skip", f"not checked: gate {missing[0]!r} did not pass")
        else:
            result = check(candidate)
        status[name] = result.status
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


# -- the gates ----------------------------------------------------------------------------------
def gate_registered(c: Candidate) -> GateResult:
    """The version is registered (not deleted, not archived) in the source environment."""
    from mlsys.promote.lifecycle import archived_versions

    try:
        c.found = get_version(c.from_env, c.model_name, c.version)
    except (ModelNotFound, VersionNotFound) as exc:
        return GateResult("registered", "fail", exc.message)
    if c.version in archived_versions(c.from_env, c.model_name):
        return GateResult(
            "registered", "fail", f"v{c.version} of {c.model_name!r} is archived in {c.from_env}"
        )
    mv = c.mv
    return GateResult(
        "registered",
        "pass",
        f"{mv.version_label} registered in {c.from_env} at {mv.registered_at:%Y-%m-%d %H:%M:%S}"
        f" ({mv.artifact_format}, {mv.file_size_bytes or 0:,} bytes, sha256 "
        f"{(mv.sha256 or '?')[:12]}…)",
    )


def gate_metadata(c: Candidate) -> GateResult:
    """metadata.json is present, valid, and lists the features (names, with dtypes or not)."""
    mv = c.mv
    if mv.metadata_error:
        return GateResult("metadata", "fail", f"metadata.json is invalid: {mv.metadata_error}")
    if mv.metadata is None:
        return GateResult(
            "metadata", "fail", f"no metadata.json registered beside {mv.object_name}"
        )
    if not mv.features:
        return GateResult(
            "metadata",
            "fail",
            "metadata.json has no 'features' (column names, or {name, dtype} objects)",
        )
    metrics = ", ".join(f"{k}={v:g}" for k, v in mv.metrics.items()) or "none"
    untyped = sum(1 for f in mv.features if not f.get("dtype"))
    return GateResult(
        "metadata",
        "pass",
        f"{len(mv.features)} features{f' ({untyped} without dtype)' if untyped else ''}, "
        f"target {mv.metadata.get('target') or '?'}, metrics {metrics}",
    )


def gate_metrics(c: Candidate) -> GateResult:
    """Every threshold of promotion.yaml is met by the metrics of metadata.json."""
    policy = c.policy
    if policy is None or not policy.thresholds:
        return GateResult(
            "metrics",
            "fail",
            f"no thresholds for {c.model_name!r} in {c.config.source}: add e.g. "
            f"'{c.model_name}: {{metrics: {{test_accuracy: \">= 0.8\"}}}}'",
        )
    parts, ok = [], True
    for threshold in policy.thresholds:
        actual = c.mv.metrics.get(threshold.metric)
        if actual is None:
            ok = False
            known = ", ".join(sorted(c.mv.metrics)) or "none"
            parts.append(f"{threshold.metric} missing from metadata metrics (has: {known})")
            continue
        met = threshold.check(actual)
        ok = ok and met
        parts.append(f"{threshold.metric} {actual:g} {'meets' if met else 'FAILS'} {threshold}")
    return GateResult("metrics", "pass" if ok else "fail", "; ".join(parts))


def gate_schema(c: Candidate) -> GateResult:
    """The features are compatible with the version serving (champion) in the target env."""
    try:
        c.serving = get_version(c.to_env, c.model_name, "champion")
    except (ModelNotFound, VersionNotFound):
        return GateResult(
            "schema", "pass", f"no champion of {c.model_name!r} in {c.to_env} yet: nothing to match"
        )
    serving = c.serving
    if serving.model_version == c.version:
        return GateResult("schema", "pass", f"v{c.version} is already the champion of {c.to_env}")
    problems, notes = compare_features(c.mv.features or [], serving.features or [])
    against = f"against champion {serving.version_label} of {c.to_env}"
    if problems:
        return GateResult(
            "schema", "fail", f"incompatible {against}: " + "; ".join(problems + notes)
        )
    return GateResult(
        "schema", "pass", f"compatible {against}" + (": " + "; ".join(notes) if notes else "")
    )


def gate_smoke(c: Candidate) -> GateResult:
    """Predict a small sample with the candidate through the real prediction pipeline.

    The sample is read from the source environment and scored in memory (the same feature
    plan, input checks, scorer and output rows as a prediction job): a promotion writes nothing
    in the source environment, where the promoter may only read.
    """
    policy = c.policy or ModelPolicy()
    sample = policy.sample_table or (c.mv.metadata or {}).get("training_data")
    if not sample:
        return GateResult(
            "smoke",
            "fail",
            f"no sample table: set {c.model_name}.sample_table in {c.config.source} or "
            "training_data in metadata.json",
        )
    try:
        source = sample_table_ref(str(sample), c.from_env, get_settings())
    except MlsysError as exc:
        return GateResult("smoke", "fail", f"sample table {sample!r}: {exc.message}")
    try:
        rows, written = _smoke_predict(c, source, int(policy.sample_rows))
    except MlsysError as exc:
        return GateResult("smoke", "fail", f"predicting {source} failed: {exc.code}: {exc.message}")
    if rows == 0:
        return GateResult("smoke", "fail", f"sample table {source} has no rows")
    if written != rows:
        return GateResult("smoke", "fail", f"wrote {written} predictions for {rows} sample rows")
    return GateResult(
        "smoke",
        "pass",
        f"predicted {written} rows of {source} with v{c.version} through the prediction "
        "pipeline (in memory)",
    )


def sample_table_ref(sample: str, from_env: str, settings: Settings) -> TableRef:
    """The smoke sample's table: ``dataset.table`` naming an environment's registry dataset
    (``mlsys_dev.titanic``, as promotion.yaml ships) is in that environment's project whatever
    the promotion's source; any other ``dataset.table`` is in the source environment's."""
    from mlsys.identifiers import parse_table_id

    dataset = sample.split(".")[0] if sample.count(".") == 1 else None
    owner = next((e for e in ENVIRONMENTS if settings.dataset_for(e) == dataset), from_env)
    return parse_table_id(sample, default_project=settings.project_for(owner))


def _smoke_predict(c: Candidate, source: Any, limit: int) -> tuple[int, int]:
    """(sample rows, predictions made) for the candidate on ``limit`` rows of ``source``."""
    from google.api_core import exceptions as gexc

    from mlsys.clients import bigquery_client
    from mlsys.errors import AccessDenied, InvalidInput, TableNotFound
    from mlsys.predict.features import check_input, default_id_columns, plan_features
    from mlsys.predict.output import RESERVED, plan_output
    from mlsys.predict.plan import resolve_model
    from mlsys.predict.sources import MemorySource
    from mlsys.predict.staging import MemorySink
    from mlsys.predict.stream import predict_stream

    try:
        job = bigquery_client(c.from_env).query(f"SELECT * FROM {source.sql} LIMIT {limit}")
        table = job.result().to_arrow(create_bqstorage_client=False)
    except gexc.NotFound as exc:
        raise TableNotFound(f"sample table {source} does not exist: {exc.message}") from None
    except gexc.BadRequest as exc:
        raise InvalidInput(f"BigQuery rejected the sample query: {exc.message}") from None
    except gexc.Forbidden as exc:  # the promoter reads the source environment only
        raise AccessDenied(
            f"the promoter into {c.to_env} may not read the sample table {source} "
            f"({exc.message}); set {c.model_name}.sample_table in {c.config.source} to a table "
            f"it may read in {c.from_env}"
        ) from None
    if table.num_rows == 0:
        return 0, 0
    model = resolve_model(c.from_env, c.model_name, c.version)
    features = plan_features(model.model, model.metadata)
    source_rows = MemorySource(table)
    check_input(source_rows.schema, features)
    output = plan_output(
        input_schema=source_rows.schema,
        id_columns=default_id_columns(source_rows.schema, features, RESERVED),
        model=model.model,
        model_name=model.model_name,
        model_version=model.version,
        job_id=f"promote-smoke-{uuid.uuid4().hex[:12]}",
    )
    sink = MemorySink(keep=False)
    result = predict_stream(
        model=model.model, features=features, output=output, source=source_rows, sink=sink
    )
    return table.num_rows, result.rows_written


# -- feature schemas ----------------------------------------------------------------------------
def dtype_family(dtype: str) -> str:
    """The kind the prediction pipeline checks (numeric or text); other dtypes as they are."""
    from mlsys.predict.features import kind_of_dtype

    return kind_of_dtype(dtype.strip()) or dtype.strip().lower()


def compare_features(
    candidate: list[dict[str, str]], serving: list[dict[str, str]]
) -> tuple[list[str], list[str]]:
    """(problems, notes): a new feature or a change of kind breaks the input tables built for
    the serving version; dropped features and width changes (int64 -> float64) do not. A
    feature listed without a dtype (the seed's names-only format) is checked by name only."""
    new = {f["name"]: f.get("dtype") for f in candidate}
    old = {f["name"]: f.get("dtype") for f in serving}
    problems = [f"new feature {n} ({new[n] or 'dtype unknown'})" for n in new if n not in old]
    notes = [f"feature {n} no longer used" for n in old if n not in new]
    for name in new.keys() & old.keys():
        before, after = old[name], new[name]
        if before == after:
            continue
        if before is None or after is None:
            notes.append(f"{name}: {before or '?'} -> {after or '?'} (dtype unknown: not compared)")
        elif dtype_family(after) != dtype_family(before):
            problems.append(f"{name}: {before} -> {after}")
        else:
            notes.append(f"{name}: {before} -> {after} (same kind)")
    return sorted(problems), sorted(notes)
