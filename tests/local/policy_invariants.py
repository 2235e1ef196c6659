"""Least-privilege invariants over the policy derived from infra/ (each returns violations).

A test asserts the real tree has none, and that mutated copies of the tree do have some.
"""

from __future__ import annotations

from mlsys.local.iam import Policy
from mlsys.settings import ENVIRONMENTS, Settings

TABLE_WRITES = frozenset(
    {
        "bigquery.tables.updateData",
        "bigquery.tables.create",
        "bigquery.tables.delete",
        "bigquery.tables.update",
        "bigquery.datasets.update",
        "bigquery.datasets.delete",
    }
)
OBJECT_WRITES = frozenset(
    {"storage.objects.create", "storage.objects.delete", "storage.objects.update"}
)


def _table(ref: str, name: str = "any_table") -> str:
    project, dataset = ref.split(".")
    return f"projects/{project}/datasets/{dataset}/tables/{name}"


def _held(policy: Policy, principal: str, resource: str, wanted: frozenset[str]) -> set[str]:
    return {p for p in wanted if policy.allows(principal, p, resource)}


def violations(policy: Policy, settings: Settings) -> list[str]:
    found = []
    for env in ENVIRONMENTS:
        registry = _table(settings.dataset_ref(env))
        for who in ("service", "job"):
            principal = f"{who}@{env}"
            if writes := _held(policy, principal, registry, TABLE_WRITES):
                found.append(f"{principal} may write the registry of {env}: {sorted(writes)}")
        appends = {"bigquery.tables.updateData"}
        if writes := _held(policy, f"function@{env}", registry, TABLE_WRITES) - appends:
            found.append(
                f"function@{env} may do more than append to the registry: {sorted(writes)}"
            )
        for other in ENVIRONMENTS:
            bucket = f"buckets/{settings.bucket_for(other)}/objects/m/v1/model.pkl"
            for who in ("service", "job", "function"):
                if writes := _held(policy, f"{who}@{env}", bucket, OBJECT_WRITES):
                    found.append(f"{who}@{env} may write {bucket}: {sorted(writes)}")
            if other != env and (writes := _held(policy, f"promoter@{env}", bucket, OBJECT_WRITES)):
                found.append(f"promoter@{env} may write {other}'s models: {sorted(writes)}")
            if other != env and (
                writes := _held(
                    policy, f"promoter@{env}", _table(settings.dataset_ref(other)), TABLE_WRITES
                )
            ):
                found.append(f"promoter@{env} may write {other}'s registry: {sorted(writes)}")
    return found
