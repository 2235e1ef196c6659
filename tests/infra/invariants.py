"""The invariants of infra/, each a function returning human-readable violations.

Tests assert the real tree has none, and that mutated copies of the tree do have some: a
check that cannot fail protects nothing.
"""

from __future__ import annotations

from pathlib import Path

from tests.infra.hcl import Config, load, strings

ENVIRONMENTS = ("dev", "staging", "prod")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
BASIC_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
REGISTRY_EVENTS = frozenset(
    {
        "google.cloud.storage.object.v1.finalized",
        "google.cloud.storage.object.v1.deleted",
        # versioned bucket: deleting the live object emits "archived", not "deleted"
        "google.cloud.storage.object.v1.archived",
        "google.cloud.storage.object.v1.metadataUpdated",
    }
)
# Validation blocks may name public members in order to reject them; comments are prose.
_NOT_CONFIG = frozenset({"validation", "__comments__", "description"})


def module_dir(infra: Path) -> Path:
    return infra / "modules" / "mlsys"


def env_dir(infra: Path, env: str) -> Path:
    return infra / "envs" / env


def all_configs(infra: Path) -> list[Config]:
    return [load(module_dir(infra))] + [load(env_dir(infra, env)) for env in ENVIRONMENTS]


def public_members(infra: Path) -> list[str]:
    """Any allUsers / allAuthenticatedUsers in resources, data, module calls, locals, defaults."""
    found = []
    for config in all_configs(infra):
        for name, parsed in config.files.items():
            for path, value in strings(parsed, skip=_NOT_CONFIG):
                if any(member in value for member in PUBLIC_MEMBERS):
                    found.append(f"{config.folder.name}/{name}{path} = {value!r}")
    return found


def basic_roles(infra: Path) -> list[str]:
    """Any owner/editor/viewer role granted anywhere (literal or through a list in locals)."""
    found = []
    for config in all_configs(infra):
        for name, parsed in config.files.items():
            for path, value in strings(parsed, skip=_NOT_CONFIG):
                if value in BASIC_ROLES:
                    found.append(f"{config.folder.name}/{name}{path} = {value!r}")
    return found


def bucket_violations(infra: Path) -> list[str]:
    """Every bucket: versioning on, uniform access, public access prevention enforced;
    the models bucket also expires noncurrent versions."""
    config = load(module_dir(infra))
    buckets = config.resources("google_storage_bucket")
    problems = [] if "models" in buckets else ["no google_storage_bucket.models"]
    for name, body in buckets.items():
        versioning = body.get("versioning", [])
        if not versioning or versioning[0].get("enabled") is not True:
            problems.append(f"bucket {name}: versioning is not enabled")
        if body.get("uniform_bucket_level_access") is not True:
            problems.append(f"bucket {name}: uniform_bucket_level_access is not true")
        if body.get("public_access_prevention") != "enforced":
            problems.append(f"bucket {name}: public_access_prevention is not enforced")
    if "models" in buckets:
        conditions = [
            cond
            for rule in buckets["models"].get("lifecycle_rule", [])
            for cond in rule.get("condition", [])
        ]
        noncurrent = ("days_since_noncurrent_time", "num_newer_versions")
        if not any(key in cond for cond in conditions for key in noncurrent):
            problems.append("bucket models: no lifecycle rule for noncurrent versions")
    return problems + global_name_violations(infra)


def global_name_violations(infra: Path) -> list[str]:
    """Bucket names are global across Google Cloud: none may be a literal (nor a name built
    only from the environment, which every user of mlsys shares). The models bucket's name
    comes from var.models_bucket_name with a default that includes the project id, and the
    settings Terraform hands to the code carry that name."""
    config = load(module_dir(infra))
    problems = []
    for name, body in config.resources("google_storage_bucket").items():
        value = str(config.resolve(body.get("name")))
        if "var.project_id" not in value:
            problems.append(f"bucket {name}: name {value!r} does not include the project id")
        if name == "models" and "var.models_bucket_name" not in value:
            problems.append(f"bucket models: name {value!r} is not var.models_bucket_name")
    app_env = config.locals().get("app_env", {})
    bucket_keys = [k for k in app_env if "GCS_BUCKET_MODELS" in k]
    if not bucket_keys:
        problems.append("app_env: no GCS_BUCKET_MODELS_* setting for the code")
    for key in bucket_keys:
        if app_env[key] != "${local.models_bucket_name}":
            problems.append(f"app_env: {key} = {app_env[key]!r} is not the models bucket")
    return problems


def required_variables(config: Config) -> set[str]:
    return {name for name, body in config.variables().items() if "default" not in body}


def env_root_violations(infra: Path) -> list[str]:
    """Each env root: one call of the module with every required variable (and no unknown
    one), environment = its folder, a gcs backend with its own prefix, no own resources."""
    module = load(module_dir(infra))
    required, known = required_variables(module), set(module.variables())
    problems, prefixes = [], {}
    for env in ENVIRONMENTS:
        root = load(env_dir(infra, env))
        calls = root.modules()
        if len(calls) != 1:
            problems.append(f"{env}: expected exactly one module call, found {sorted(calls)}")
            continue
        ((name, call),) = calls.items()
        if call.get("source") != "../../modules/mlsys":
            problems.append(f"{env}: module {name} source is {call.get('source')!r}")
        args = set(call) - {"source", "providers", "depends_on", "__comments__"}
        if missing := required - args:
            problems.append(f"{env}: module call misses required variables {sorted(missing)}")
        if unknown := args - known:
            problems.append(f"{env}: module call passes unknown variables {sorted(unknown)}")
        if call.get("environment") != env:
            problems.append(f"{env}: environment = {call.get('environment')!r}")
        if resources := list(root.all_resources()):
            problems.append(f"{env}: env roots stay thin, found resources {resources[:1]}")
        backends = [b for t in root.blocks("terraform") for b in t.get("backend", [])]
        gcs = [b["gcs"] for b in backends if "gcs" in b]
        if len(gcs) != 1 or not gcs[0].get("prefix"):
            problems.append(f"{env}: needs one gcs backend with a prefix")
        else:
            prefixes[env] = gcs[0]["prefix"]
        # A root's own required variables must be supplied by the workflows (TF_VAR_*).
        if extra := required_variables(root) - {"project_id", "github_repository"}:
            problems.append(f"{env}: required root variables the workflows do not set: {extra}")
    if len(set(prefixes.values())) != len(prefixes):
        problems.append(f"backend prefixes are shared between environments: {prefixes}")
    return problems


def untyped_variables(infra: Path) -> list[str]:
    return [
        f"{config.folder.name}: variable {name} lacks {attr}"
        for config in all_configs(infra)
        for name, body in config.variables().items()
        for attr in ("type", "description")
        if not body.get(attr)
    ]


def registry_trigger_events(infra: Path) -> set[str]:
    """Event types reaching the registry function: its own trigger plus Eventarc triggers."""
    config = load(module_dir(infra))
    events: set[str] = set()
    for function in config.resources("google_cloudfunctions2_function").values():
        for trigger in function.get("event_trigger", []):
            events.add(config.resolve(trigger.get("event_type")))
    for trigger in config.resources("google_eventarc_trigger").values():
        for criterion in trigger.get("matching_criteria", []):
            if criterion.get("attribute") != "type":
                continue
            value = criterion.get("value")
            if value == "${each.value}":
                events.update(config.resolve(trigger["for_each"]).values())
            else:
                events.add(config.resolve(value))
    return events
