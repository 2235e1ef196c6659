"""The local stack's IAM policy, derived from the Terraform in ``infra/``.

Each environment root (``infra/envs/{env}/main.tf``) calls the module with its variables; the
module's IAM members are evaluated for that call and mapped onto the local stack's concrete
resources through its settings:

- ``google_storage_bucket.models``: ``buckets/{settings.bucket_for(env)}``;
- ``google_bigquery_dataset.registry``, ``.ops``, ``.predictions``: ``settings.dataset_ref(env)``,
  ``ops_dataset_ref(env)``, ``predictions_dataset_ref(env)``; a dataset id given as a string:
  that dataset in ``project_for(env)``;
- ``var.project_id`` (project-level grants): ``projects/{settings.project_for(env)}``;
- ``google_cloud_run_v2_job.predict``: ``projects/P/locations/{region}/jobs/{its name}``.

Members: the service accounts ``registry_function``, ``predict``, ``predict_job`` and
``promoter`` are the identities ``function``, ``service``, ``job`` and ``promoter`` of the same
environment; a literal member (``var.downstream_promoter``) is matched by its account id against
every environment's accounts, so dev's ``downstream_promoter`` is ``promoter@staging``. Roles are
custom roles' listed permissions or :data:`~mlsys.local.iam.roles.PREDEFINED_ROLES`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsys.local.iam.roles import PREDEFINED_ROLES, grants
from mlsys.local.terraform import Config, Evaluator, TerraformError, Unknown, load
from mlsys.settings import ENVIRONMENTS, Settings

#: Terraform service account -> local identity (tokens ``mlsys-local:{identity}@{env}``).
IDENTITY_OF_ACCOUNT = {
    "registry_function": "function",
    "predict": "service",
    "predict_job": "job",
    "promoter": "promoter",
}
_SA_REF = re.compile(r"^(?:serviceAccount:)?\$\{google_service_account\.(\w+)(?:\.\d+)?\.email\}$")
_SA_LITERAL = re.compile(r"^serviceAccount:([a-z][a-z0-9-]{4,28}[a-z0-9])@")
_REF = re.compile(r"^([a-z0-9_]+)\.(\w+)\.(\w+)$")


@dataclass(frozen=True)
class Binding:
    """One principal holding some permissions on one resource (and what it descends from)."""

    principal: str  # "service@dev"
    resource: str  # "projects/P", "buckets/B", "projects/P/datasets/D", ".../jobs/J"
    role: str
    permissions: frozenset[str]
    source: str  # "google_bigquery_dataset_iam_member.service_reads_registry"


@dataclass(frozen=True)
class Check:
    """One permission a request needs on one resource.

    ``when`` makes it conditional: ``("exists", path)`` applies only if the emulator has
    ``path`` (an overwrite also needs ``storage.objects.delete``), ``("missing", path)`` only if
    it has not (a load into a new table also needs ``bigquery.tables.create``). The proxy
    looks only when the permission is not held anyway.
    """

    permission: str
    resource: str
    when: tuple[str, str] | None = None


@dataclass
class Policy:
    """Who may do what on which local resource; a request without a principal is the owner."""

    bindings: list[Binding] = field(default_factory=list)
    emails: dict[str, str] = field(default_factory=dict)  # principal -> service account email
    bucket_projects: dict[str, str] = field(default_factory=dict)

    def ancestors(self, resource: str) -> list[str]:
        """``resource`` and everything it inherits grants from, nearest first."""
        if resource.startswith("buckets/"):
            bucket = resource.split("/")[1]
            chain = [resource, f"buckets/{bucket}"]
            if bucket in self.bucket_projects:
                chain.append(f"projects/{self.bucket_projects[bucket]}")
            return list(dict.fromkeys(chain))
        parts = resource.split("/")
        return ["/".join(parts[:n]) for n in range(len(parts) - len(parts) % 2, 0, -2)]

    def allows(self, principal: str | None, permission: str, resource: str) -> bool:
        if principal is None:  # no token: a person's own credentials, the project owner
            return True
        chain = set(self.ancestors(resource))
        return any(
            b.principal == principal and b.resource in chain and grants(b.permissions, permission)
            for b in self.bindings
        )

    def permissions(self, principal: str, resource: str) -> set[str]:
        """Every permission ``principal`` holds on ``resource`` (for invariants and docs)."""
        chain = set(self.ancestors(resource))
        found: set[str] = set()
        for b in self.bindings:
            if b.principal == principal and b.resource in chain:
                found |= b.permissions
        return found

    def email(self, principal: str | None) -> str:
        if principal is None:
            return "the project owner"
        return self.emails.get(principal, principal)


def derive_policy(infra: Path, settings: Settings) -> Policy:
    """The policy ``infra/`` grants, on the local stack's resources named by ``settings``."""
    module = load(infra / "modules" / "mlsys")
    policy = Policy(
        bucket_projects={settings.bucket_for(e): settings.project_for(e) for e in ENVIRONMENTS}
    )
    evaluators = {env: Evaluator(module, module_arguments(infra, env)) for env in ENVIRONMENTS}
    accounts: dict[str, str] = {}  # account id -> principal
    for env, evaluator in evaluators.items():
        for name, body in module.resources("google_service_account").items():
            if name not in IDENTITY_OF_ACCOUNT or not evaluator.instances(body):
                continue
            account_id = evaluator.value(body["account_id"])
            principal = f"{IDENTITY_OF_ACCOUNT[name]}@{env}"
            accounts[str(account_id)] = principal
            domain = f"{settings.project_for(env)}.iam.gserviceaccount.com"
            policy.emails[principal] = f"{account_id}@{domain}"
    for env, evaluator in evaluators.items():
        policy.bindings.extend(_bindings(module, evaluator, env, settings, accounts))
    return policy


def module_arguments(infra: Path, env: str) -> dict[str, Any]:
    """The variables ``infra/envs/{env}`` passes to the module, evaluated in that root."""
    root = load(infra / "envs" / env)
    calls = root.modules()
    if len(calls) != 1:
        raise TerraformError(f"infra/envs/{env}: expected one module call, found {sorted(calls)}")
    (call,) = calls.values()
    evaluator = Evaluator(root, {})
    skip = {"source", "providers", "depends_on", "__comments__"}
    return {k: evaluator.value(v) for k, v in call.items() if k not in skip}


# -- IAM members -> bindings --------------------------------------------------------------------
_MEMBER_TYPES = {
    "google_storage_bucket_iam_member",
    "google_storage_bucket_iam_binding",
    "google_bigquery_dataset_iam_member",
    "google_bigquery_dataset_iam_binding",
    "google_bigquery_table_iam_member",
    "google_bigquery_table_iam_binding",
    "google_project_iam_member",
    "google_project_iam_binding",
    "google_cloud_run_v2_job_iam_member",
    "google_cloud_run_v2_job_iam_binding",
}


def _bindings(
    module: Config,
    evaluator: Evaluator,
    env: str,
    settings: Settings,
    accounts: dict[str, str],
) -> Iterator[Binding]:
    resolve = _resource_resolver(module, evaluator, env, settings)
    for rtype, name, body in module.all_resources():
        if rtype not in _MEMBER_TYPES:
            continue
        for each in evaluator.instances(body):
            evaluator.each = each
            try:
                members = (
                    evaluator.value(body["members"])
                    if "members" in body
                    else [evaluator.value(body["member"])]
                )
                principals = [p for m in members if (p := _principal(m, env, accounts))]
                if not principals:
                    continue
                resource = resolve(rtype, body)
                role = evaluator.value(body["role"])
                permissions = _role_permissions(module, role, f"{rtype}.{name}")
                role = _REF.sub(r"\1.\2", role.text) if isinstance(role, Unknown) else role
            finally:
                evaluator.each = None
            if resource is None:
                continue  # a resource the local stack does not emulate (function source bucket)
            for principal in principals:
                yield Binding(principal, resource, str(role), permissions, f"{rtype}.{name}")


def _principal(member: Any, env: str, accounts: dict[str, str]) -> str | None:
    text = str(member)
    if match := _SA_REF.match(text):
        identity = IDENTITY_OF_ACCOUNT.get(match.group(1))
        return f"{identity}@{env}" if identity else None
    if match := _SA_LITERAL.match(text):
        return accounts.get(match.group(1))
    return None


def _role_permissions(module: Config, role: Any, where: str) -> frozenset[str]:
    if isinstance(role, Unknown):
        match = _REF.match(role.text)
        if (
            match
            and match.group(1) == "google_project_iam_custom_role"
            and match.group(3)
            in (
                "id",
                "name",
            )
        ):
            custom = module.resources("google_project_iam_custom_role").get(match.group(2))
            if custom is not None:
                return frozenset(custom["permissions"])
        raise TerraformError(f"{where}: cannot resolve the role {role}")
    if role not in PREDEFINED_ROLES:
        raise TerraformError(
            f"{where}: role {role!r} is not in mlsys.local.iam.roles.PREDEFINED_ROLES; add "
            "Google's definition of it there"
        )
    return PREDEFINED_ROLES[role]


def _resource_resolver(
    module: Config, evaluator: Evaluator, env: str, settings: Settings
) -> Callable[[str, dict[str, Any]], str | None]:
    project = settings.project_for(env)
    datasets = {
        "registry": settings.dataset_ref(env),
        "ops": settings.ops_dataset_ref(env),
        "predictions": settings.predictions_dataset_ref(env),
    }
    buckets = {"models": settings.bucket_for(env)}
    region = settings.gcp_region
    jobs = {
        name: f"projects/{project}/locations/{region}/jobs/{evaluator.value(body['name'])}"
        for name, body in module.resources("google_cloud_run_v2_job").items()
    }

    def ref_name(value: Any, rtype: str) -> str | None:
        match = _REF.match(value.text) if isinstance(value, Unknown) else None
        return match.group(2) if match and match.group(1) == rtype else None

    def dataset(value: Any) -> str | None:
        name = ref_name(value, "google_bigquery_dataset")
        if name is not None:
            ref = datasets.get(name)
            return None if ref is None else "projects/{}/datasets/{}".format(*ref.split("."))
        return f"projects/{project}/datasets/{value}" if isinstance(value, str) else None

    def resolve(rtype: str, body: dict[str, Any]) -> str | None:
        if rtype.startswith("google_storage_bucket_iam"):
            bucket = buckets.get(
                ref_name(evaluator.value(body["bucket"]), "google_storage_bucket") or ""
            )
            return None if bucket is None else f"buckets/{bucket}"
        if rtype.startswith("google_bigquery_dataset_iam"):
            return dataset(evaluator.value(body["dataset_id"]))
        if rtype.startswith("google_bigquery_table_iam"):
            parent = dataset(evaluator.value(body["dataset_id"]))
            table = evaluator.value(body["table_id"])
            if (name := ref_name(table, "google_bigquery_table")) is not None:
                table = evaluator.value(module.resources("google_bigquery_table")[name]["table_id"])
            return (
                None if parent is None or not isinstance(table, str) else f"{parent}/tables/{table}"
            )
        if rtype.startswith("google_project_iam"):
            return f"projects/{project}"
        if rtype.startswith("google_cloud_run_v2_job_iam"):
            return jobs.get(
                ref_name(evaluator.value(body["name"]), "google_cloud_run_v2_job") or ""
            )
        return None

    return resolve
