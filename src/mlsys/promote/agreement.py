"""The agreement gate: would the candidate answer like the target's champion on the data that
champion really scores?

It takes the input table of the champion's latest successful prediction job in the target
environment, reads ``agreement_rows`` of it, and scores them with both versions in one pass,
the way a shadow job does (:func:`mlsys.monitoring.shadow.compare_on`): the share of rows with
the same label must reach ``min_agreement`` (classifiers), or the mean absolute difference stay
within ``max_mean_abs_diff`` (regressors), as set in promotion.yaml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from mlsys.errors import MlsysError, ModelNotFound, VersionNotFound
from mlsys.predict.records import JobStatus

if TYPE_CHECKING:
    from mlsys.promote.gates import Candidate, GateResult


def gate_agreement(c: Candidate) -> GateResult:
    """The candidate agrees enough with the target's champion on the champion's latest input."""
    from mlsys.promote.gates import GateResult
    from mlsys.registry import get_version

    policy = c.policy
    assert policy is not None and policy.wants_agreement, "run only when promotion.yaml asks"
    try:
        champion = get_version(c.to_env, c.model_name, "champion")
    except (ModelNotFound, VersionNotFound):
        return GateResult(
            "agreement", "pass", f"no champion of {c.model_name!r} in {c.to_env}: nothing to match"
        )
    if champion.model_version == c.version:
        return GateResult("agreement", "pass", f"v{c.version} is the champion of {c.to_env}")
    against = f"champion v{champion.model_version} of {c.to_env}"
    table = _latest_input(c.to_env, c.model_name, champion.model_version)
    if table is None:
        return GateResult(
            "agreement",
            "fail",
            f"no succeeded prediction job of {against} yet: its agreement cannot be measured "
            "(run one, or drop min_agreement/max_mean_abs_diff from promotion.yaml)",
        )
    try:
        found = _compare(c, champion.model_version, table, policy.agreement_rows)
    except (MlsysError, gexc.GoogleAPIError) as exc:
        message = exc.message if isinstance(exc, MlsysError) else str(exc)
        return GateResult("agreement", "fail", f"comparing on {table} failed: {message}")
    return _verdict(found, policy.min_agreement, policy.max_mean_abs_diff, against, table)


def _latest_input(env: str, model_name: str, version: int) -> str | None:
    """The input table of the newest succeeded job of ``version``."""
    from mlsys.monitoring.store import recent_jobs

    for record in recent_jobs(env, model_name=model_name, version=version, limit=20):
        if record.status == JobStatus.SUCCEEDED:
            return str(record.input_table)
    return None


def _compare(c: Candidate, champion_version: int, table_id: str, rows: int) -> object:
    from mlsys.clients import bigquery_client
    from mlsys.monitoring.shadow import compare_on
    from mlsys.predict.plan import resolve_model

    # list_rows reads the table itself (no query job, nothing billed) in the target's project.
    sample = (
        bigquery_client(c.to_env)
        .list_rows(table_id, max_results=rows)
        .to_arrow(create_bqstorage_client=False)
    )
    champion = resolve_model(c.to_env, c.model_name, champion_version)
    candidate = resolve_model(c.from_env, c.model_name, c.version)
    return compare_on(sample, champion, candidate)


def _verdict(
    found: object, min_agreement: float | None, max_diff: float | None, against: str, table: str
) -> GateResult:
    from mlsys.monitoring.shadow import LABEL_AGREEMENT, Comparison
    from mlsys.promote.gates import GateResult

    assert isinstance(found, Comparison)
    where = f"on {found.rows} rows of {table} (latest input of {against})"
    if found.agreement is None:
        return GateResult("agreement", "fail", f"no rows to compare {where}")
    if found.metric == LABEL_AGREEMENT:
        if min_agreement is None:
            return GateResult(
                "agreement", "fail", "a classifier: set min_agreement (not max_mean_abs_diff)"
            )
        ok = found.agreement >= min_agreement
        verdict = "meets" if ok else "FAILS"
        evidence = f"same label on {found.agreement:.1%} {verdict} min_agreement {min_agreement:g}"
    else:
        if max_diff is None:
            return GateResult(
                "agreement", "fail", "a regressor: set max_mean_abs_diff (not min_agreement)"
            )
        ok = found.agreement <= max_diff
        verdict = "meets" if ok else "FAILS"
        evidence = (
            f"mean |difference| {found.agreement:.4g} {verdict} max_mean_abs_diff {max_diff:g}"
        )
    return GateResult(
        "agreement",
        "pass" if ok else "fail",
        f"{evidence} {where}; JS distance of the predictions {found.js_distance}",
    )
