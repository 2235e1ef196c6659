"""Promote a version dev -> staging -> prod behind gates, and roll a champion back.

A promotion: run the gates (:mod:`mlsys.promote.gates`); if one fails, audit the refusal and
raise :class:`PromotionGateFailed`. Otherwise copy the objects server-side into the target
bucket (:mod:`mlsys.promote.copy`), wait until the target's registry function has registered
them with the same sha256, make the version the target's ``champion`` (the old champion becomes
``previous``) and audit the promotion and each alias move.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NoReturn

from mlsys import audit
from mlsys.errors import (
    IntegrityError,
    InvalidInput,
    MlsysError,
    PromotionGateFailed,
    RollbackUnavailable,
)
from mlsys.promote.config import PromotionConfig, load_config
from mlsys.promote.copy import CopyReport, SourceObject, check_target, copy_version, plan_copy
from mlsys.promote.gates import Candidate, GateResult, run_gates
from mlsys.registry import ModelVersion, get_version, registry_store, wait_for_version
from mlsys.registry.aliases import CHAMPION, PREVIOUS, AliasRow, current_aliases, set_aliases
from mlsys.registry.contract import check_model_name, parse_version
from mlsys.settings import ENVIRONMENTS, check_env

#: How long to wait for the target bucket's function to register the copied version.
REGISTRATION_TIMEOUT_S = 120.0

Outcome = Literal["promoted", "dry-run", "noop"]


@dataclass
class PromotionResult:
    model_name: str
    version: int
    from_env: str
    to_env: str
    outcome: Outcome
    message: str
    gates: list[GateResult] = field(default_factory=list)
    copy: CopyReport | None = None
    previous_champion: int | None = None
    audit: list[audit.AuditEntry] = field(default_factory=list)


@dataclass
class RollbackResult:
    model_name: str
    env: str
    champion: int
    previous: int
    message: str
    audit: list[audit.AuditEntry] = field(default_factory=list)


def check_route(from_env: str, to_env: str) -> None:
    """Promotions go one step along dev -> staging -> prod."""
    order = list(ENVIRONMENTS)
    if order.index(check_env(to_env)) != order.index(check_env(from_env)) + 1:
        raise InvalidInput(
            f"cannot promote {from_env} -> {to_env}: promotion goes dev -> staging -> prod"
        )


def promote(
    model_name: str,
    version: str | int,
    *,
    from_env: str,
    to_env: str,
    dry_run: bool = False,
    config: PromotionConfig | None = None,
    on_gate: Callable[[GateResult], None] | None = None,
    registration_timeout: float = REGISTRATION_TIMEOUT_S,
) -> PromotionResult:
    """Gate, copy, register and crown ``model_name`` v``version`` in ``to_env``."""
    check_model_name(model_name)
    check_route(from_env, to_env)
    number = parse_version(version)
    config = config or load_config()
    aliases = current_aliases(to_env, model_name)
    result = PromotionResult(model_name, number, from_env, to_env, "dry-run", "")
    noop = _already_promoted(result, aliases)
    if noop is not None:
        return noop
    candidate = Candidate(model_name, number, from_env, to_env, config)
    result.gates = run_gates(candidate, on_result=on_gate)
    if any(g.status != "pass" for g in result.gates):
        _refuse(result, dry_run=dry_run)
    if dry_run:
        result.message = f"dry run: {_label(result)} would be promoted; nothing was copied"
        return result
    source = candidate.mv
    result.copy = copy_version(_objects(source, from_env), from_env=from_env, to_env=to_env)
    registered = wait_for_version(to_env, model_name, number, timeout=registration_timeout)
    if registered.sha256 != source.sha256:
        raise IntegrityError(
            f"{registered.artifact_uri} registered with sha256 {registered.sha256}, the source "
            f"{source.artifact_uri} has {source.sha256}: not making it the champion"
        )
    _crown(result, aliases)
    return result


def _label(result: PromotionResult) -> str:
    return f"{result.model_name} v{result.version} {result.from_env} -> {result.to_env}"


def _refuse(result: PromotionResult, *, dry_run: bool) -> NoReturn:
    """Audit the refusal (not for a dry run), then raise naming the failed gates."""
    failed = [g for g in result.gates if g.status == "fail"]
    reasons = "; ".join(f"{g.gate}: {g.evidence}" for g in failed)
    gates = [g.to_dict() for g in result.gates]
    if not dry_run:
        audit.record(
            audit.new_entry(
                result.to_env,
                "promotion_refused",
                model_name=result.model_name,
                model_version=result.version,
                from_env=result.from_env,
                to_env=result.to_env,
                gate_results=gates,
                details=f"refused: {reasons}",
            )
        )
    names = ", ".join(g.gate for g in failed)
    verdict = "would be refused" if dry_run else "refused"
    raise PromotionGateFailed(
        f"{'dry run: ' if dry_run else ''}promotion of {_label(result)} {verdict}: "
        f"gate {names} failed ({reasons})",
        details={"gates": gates},
    )


def _crown(result: PromotionResult, aliases: dict[str, AliasRow]) -> None:
    """Make the version the champion (the old one becomes previous) and audit it all."""
    env, number = result.to_env, result.version
    before = aliases.get(CHAMPION)
    result.previous_champion = before.model_version if before else None
    targets = {CHAMPION: number}
    if before is not None and before.model_version != number:
        targets[PREVIOUS] = before.model_version
    moved = set_aliases(env, result.model_name, targets, reason="promote", current=aliases)
    copied = ", ".join(result.copy.copied) if result.copy and result.copy.copied else "nothing"
    result.audit = [
        audit.new_entry(
            env,
            "promote",
            model_name=result.model_name,
            model_version=number,
            from_env=result.from_env,
            to_env=env,
            gate_results=[g.to_dict() for g in result.gates],
            details=f"promoted {_label(result)}; copied {copied}",
        ),
        *_alias_entries(env, moved, aliases),
    ]
    audit.record(*result.audit)
    result.outcome = "promoted"
    was = f" (previous champion: v{before.model_version})" if before else ""
    result.message = f"promoted {_label(result)}: v{number} is the champion of {env}{was}"


def rollback(model_name: str, *, env: str) -> RollbackResult:
    """Make ``previous`` the champion again (and the current champion ``previous``)."""
    from mlsys.promote.lifecycle import archived_versions

    check_model_name(model_name)
    check_env(env)
    aliases = current_aliases(env, model_name)
    champion, previous = aliases.get(CHAMPION), aliases.get(PREVIOUS)
    if champion is None or previous is None:
        raise RollbackUnavailable(
            f"{model_name!r} has no {'champion' if champion is None else 'previous'} version in "
            f"{env}: nothing to roll back to"
        )
    target = previous.model_version
    try:
        get_version(env, model_name, target)
    except MlsysError as exc:
        raise RollbackUnavailable(f"cannot roll back to v{target}: {exc.message}") from None
    if target in archived_versions(env, model_name):
        raise RollbackUnavailable(f"cannot roll back to v{target}: it is archived in {env}")
    moved = set_aliases(
        env,
        model_name,
        {CHAMPION: target, PREVIOUS: champion.model_version},
        reason="rollback",
        current=aliases,
    )
    entries = [
        audit.new_entry(
            env,
            "rollback",
            model_name=model_name,
            model_version=target,
            previous_version=champion.model_version,
            details=f"rolled back {env} from v{champion.model_version} to v{target}",
        ),
        *_alias_entries(env, moved, aliases),
    ]
    audit.record(*entries)
    return RollbackResult(
        model_name,
        env,
        target,
        champion.model_version,
        f"rolled back {model_name} in {env}: v{target} is the champion again "
        f"(v{champion.model_version} is now previous)",
        entries,
    )


def _already_promoted(
    result: PromotionResult, aliases: dict[str, AliasRow]
) -> PromotionResult | None:
    """The no-op answer when the version is already the target's champion, identical bytes."""
    champion = aliases.get(CHAMPION)
    if champion is None or champion.model_version != result.version:
        return None
    try:
        source = get_version(result.from_env, result.model_name, result.version)
    except MlsysError:
        return None  # let the gates say what is wrong
    objects = _objects(source, result.from_env)
    report = check_target(objects, from_env=result.from_env, to_env=result.to_env)
    if len(report.identical) != len(objects):
        return None  # something is missing in the target: finish the promotion
    result.outcome, result.copy = "noop", report
    result.message = (
        f"nothing to do: {result.model_name} v{result.version} is already the champion of "
        f"{result.to_env}, and gs://{report.bucket} holds identical objects"
    )
    return result


def _objects(source: ModelVersion, env: str) -> list[SourceObject]:
    rows = registry_store(env).current(model_name=source.model_name, version=source.model_version)
    row = rows[0] if rows else {}
    return plan_copy(
        source.object_name,
        source.generation,
        row.get("metadata_generation"),
        row.get("profile_generation"),
    )


def _alias_entries(
    env: str, moved: list[AliasRow], before: dict[str, AliasRow]
) -> list[audit.AuditEntry]:
    entries = []
    for row in moved:
        old = before.get(row.alias)
        entries.append(
            audit.new_entry(
                env,
                "alias",
                model_name=row.model_name,
                model_version=row.model_version,
                alias=row.alias,
                previous_version=old.model_version if old else None,
                details=f"{row.alias} -> v{row.model_version}"
                + (f" (was v{old.model_version})" if old else ""),
            )
        )
    return entries
