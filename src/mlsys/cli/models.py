"""``mlsys models list|show`` and ``mlsys registry sync``: the registry from the terminal."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from mlsys.cli import console, remote
from mlsys.cli.tables import Col, print_table

app = typer.Typer(help="Browse the model registry.", no_args_is_help=True)
registry_app = typer.Typer(help="Maintain the model registry.", no_args_is_help=True)

EnvOption = Annotated[
    str | None, typer.Option("--env", "-e", help="dev, staging or prod (default: MLSYS_ENV)")
]
DirectOption = Annotated[
    bool,
    typer.Option("--direct", help="Read BigQuery here instead of asking the service (slower)"),
]


#: The columns of ``mlsys models list``; least useful dropped first on a narrow terminal.
LIST_COLUMNS = (
    Col("model", key=True),
    Col("latest", key=True),
    Col("versions", justify="right", drop=1),
    Col("description", text=True, drop=4),
    Col("tags", text=True, drop=3),
    Col("metrics", drop=2),
)


def _env(env: str | None) -> str:
    from mlsys.settings import get_settings

    return env or get_settings().mlsys_env


@app.command(
    "list",
    epilog="Example: mlsys models list -e staging --tag churn --json",
)
def list_(
    env: EnvOption = None,
    search: Annotated[
        str | None,
        typer.Option(help="Text in the name or description (--rejected: in the object name)"),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="Only models with this tag (repeat)")
    ] = None,
    limit: int = 50,
    page_token: str | None = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    rejected: Annotated[
        bool,
        typer.Option("--rejected", help="List the uploads the registry refused, and why"),
    ] = False,
    direct: DirectOption = False,
) -> None:
    """List the models of an environment with their latest version (or its rejected uploads)."""
    url = remote.service_url(direct)
    if rejected:
        _print_rejections(url, env, search=search, limit=limit, as_json=as_json)
        return
    if url is not None:
        env = remote.default_env(env)
        params = {"env": env, "search": search, "tag": tag, "limit": limit}
        page = remote.get_json(url, "models", **params, page_token=page_token)
    else:
        from mlsys.registry import list_models

        env = _env(env)
        found = list_models(env, search=search, tags=tag, limit=limit, page_token=page_token)
        page = found.model_dump(mode="json")
    if as_json:
        console.print_json(json.dumps(page))
        return
    rows = [
        [
            m["model_name"],
            m["latest_version_label"],
            str(m["versions"]),
            m["description"] or "",
            ", ".join(m["tags"]),
            "\n".join(f"{k}={v:g}" for k, v in m["metrics"].items()),
        ]
        for m in page["models"]
    ]
    print_table(console, LIST_COLUMNS, rows, title=f"models in {env}")
    _warn_duplicates(page["models"])
    if page["next_page_token"]:
        console.print(f"more: --page-token {page['next_page_token']}")


def _print_rejections(
    url: str | None, env: str | None, *, search: str | None, limit: int, as_json: bool
) -> None:
    if url is not None:
        env = remote.default_env(env)
        found = remote.get_json(url, "models/rejections", env=env, search=search, limit=limit)
        bucket = remote.default_bucket(env)
    else:
        from mlsys.registry import list_rejections
        from mlsys.settings import get_settings

        env = _env(env)
        found = [
            r.model_dump(mode="json") for r in list_rejections(env, search=search, limit=limit)
        ]
        bucket = get_settings().bucket_for(env)
    if as_json:
        console.print_json(json.dumps(found))
        return
    # Object names and reasons wrap, never cut: they are what the reader came for.
    table = Table(
        Column("rejected at", no_wrap=True),
        Column("object", overflow="fold", ratio=2),
        Column("reason", overflow="fold", ratio=3),
        Column("by", overflow="fold", ratio=1),
        title=f"rejected uploads in {env} (gs://{bucket})",
        expand=True,
    )
    for r in found:
        uri = f"gs://{r['gcs_bucket']}/{r['object_name']}"
        where = r["object_name"] if r["gcs_bucket"] == bucket else uri
        table.add_row(
            f"{_time(r['rejected_at']):%Y-%m-%d %H:%M}",
            where or "",
            r["reason"],
            r["uploader"] or "",
            end_section=True,
        )
    console.print(table)
    if not found:
        console.print(f"no rejected uploads in {env}")


def _time(value: str) -> dt.datetime:
    """A timestamp of the JSON form (both paths print from it, so they print the same)."""
    return dt.datetime.fromisoformat(value)


@app.command(
    epilog="Example: mlsys models show titanic-survival v1 -e dev  (or: ... champion -e prod)"
)
def show(
    name: str,
    version: Annotated[str | None, typer.Argument(help="vN, N, latest or an alias")] = None,
    env: EnvOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    direct: DirectOption = False,
) -> None:
    """Show a model's versions, or one version in full."""
    url = remote.service_url(direct)
    if version is not None:
        _show_version(name, version, _env(env), as_json=as_json)
        return
    if url is not None:
        env = remote.default_env(env)
        versions = remote.get_json(url, f"models/{remote.quoted(name)}/versions", env=env)
    else:
        from mlsys.promote.lifecycle import with_state
        from mlsys.registry import list_versions

        env = _env(env)
        versions = [v.model_dump(mode="json") for v in with_state(env, list_versions(env, name))]
    if as_json:
        console.print_json(json.dumps(versions))
        return
    rows = [
        [
            v["version_label"],
            _status(v),
            v["artifact_format"] or "",
            f"{v['file_size_bytes'] or 0:,}",
            (v["sha256"] or "")[:12],
            f"{_time(v['registered_at']):%Y-%m-%d %H:%M}" if v["registered_at"] else "",
            v["uploader"] or "",
            "\n".join(f"{k}={x:g}" for k, x in v["metrics"].items()),
        ]
        for v in versions
    ]
    cols = [
        Col("version", key=True),
        Col("status", key=True),
        Col("format", drop=3),
        Col("size", justify="right", drop=4),
        Col("sha256", drop=5),
        Col("registered", text=True, drop=2),
        Col("uploader", drop=6),
        Col("metrics", drop=1),
    ]
    print_table(console, cols, rows, title=f"{name} in {env}")
    _warn_duplicates(versions)


def _show_version(name: str, version: str, env: str, *, as_json: bool) -> None:
    """One version in full: its lineage and reference profile are read from storage here."""
    from mlsys.promote.lifecycle import with_state
    from mlsys.registry import get_version

    (mv,) = with_state(env, [get_version(env, name, version)])
    if as_json:
        console.print_json(mv.model_dump_json())
        return
    data = mv.model_dump(mode="json", exclude={"metadata"})
    data["status"] = _status(data)
    console.print(_version_text(data))
    _warn_duplicates([data])
    _print_lineage(mv.metadata or {})
    _print_profile(env, mv)


def _version_text(data: dict[str, object]) -> str:
    from rich.markup import escape

    shown = {k: v for k, v in data.items() if v not in (None, [], {}) and v is not False}
    return "\n".join(
        f"[bold]{k}[/]: {v if k == 'status' else escape(_value_text(v))}" for k, v in shown.items()
    )


def _value_text(value: object) -> str:
    """A field as a reader wants it: lists and dicts as words, never a Python repr (a repr
    wraps mid-word at 80 columns)."""
    if isinstance(value, dict):
        if set(value) == {"name", "dtype"}:  # a feature
            return f"{value['name']} ({value['dtype']})"
        return ", ".join(f"{k}={_value_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _status(v: dict[str, Any]) -> str:
    """``archived`` for a registered version retired with ``mlsys archive`` in this env."""
    return (
        "[yellow]archived[/]" if v.get("archived") and v["status"] == "registered" else v["status"]
    )


def _warn_duplicates(rows: Sequence[dict[str, Any]]) -> None:
    """A line per version (or model's latest version) whose bytes repeat a lower version's."""
    for v in rows:
        if v.get("duplicate_of"):
            label = v.get("version_label") or v.get("latest_version_label", "")
            console.print(
                f"[yellow]warning[/]: {v['model_name']} {label} has the same bytes (sha256) as "
                f"{v['duplicate_of']}: a re-upload, not a new model"
            )


def _print_lineage(metadata: dict[str, Any]) -> None:
    """Where the version came from (metadata.json ``lineage``, written by mlsys.log_model)."""
    lineage = metadata.get("lineage") or {}
    if not lineage:
        console.print("[bold]lineage[/]: not recorded (uploaded without mlsys.log_model)")
        return
    console.print("[bold]lineage[/]:")
    for key, value in lineage.items():
        console.print(f"  {key}: {value}")
    versions = metadata.get("library_versions") or {}
    if versions:
        console.print("  packages: " + ", ".join(f"{k} {v}" for k, v in versions.items()))


def _print_profile(env: str, mv: Any) -> None:
    """The reference profile drift is measured against: its rows, and a line per feature."""
    from mlsys.monitoring.reference import load_reference

    profile = load_reference(mv, env=env) if mv.has_profile else None
    if profile is None:
        reason = "unreadable (see the log)" if mv.has_profile else "none (no drift figures)"
        console.print(f"[bold]profile[/]: {reason}")
        return
    console.print(
        f"[bold]profile[/]: profile.json (sha256 {mv.profile_sha256[:12]}…), "
        f"{profile.rows:,} training rows"
    )
    table = Table("feature", "kind", "bins", "null rate", box=None, padding=(0, 2))
    for feature, hist in profile.features.items():
        table.add_row(feature, hist.kind, str(len(hist.counts)), f"{hist.null_rate:.1%}")
    if profile.prediction is not None:
        shares = ", ".join(
            f"{label} {count / max(sum(profile.prediction.counts), 1):.0%}"
            for label, count in zip(
                profile.prediction.labels(), profile.prediction.counts, strict=True
            )
        )
        table.add_row(
            "prediction", profile.prediction.kind, str(len(profile.prediction.counts)), shares
        )
    console.print(table)


@registry_app.command(epilog="Example: mlsys registry sync -e dev")
def sync(
    env: EnvOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Rescan the env's bucket and register whatever events missed (safe to repeat)."""
    from dataclasses import asdict

    from rich.progress import Progress

    from mlsys.registry.sync import sync_bucket
    from mlsys.settings import get_settings

    env = _env(env)
    with Progress(console=console, transient=True, disable=as_json) as progress:
        task = progress.add_task(f"scanning {get_settings().bucket_for(env)}", total=None)
        report = sync_bucket(env, progress=lambda n: progress.update(task, completed=n))
    if as_json:
        console.print_json(json.dumps(asdict(report)))
        return
    console.print(
        f"[bold]{report.bucket}[/]: scanned {report.scanned} objects, "
        f"{report.already_recorded} already recorded; registered "
        f"{len(report.registered)}, rejected {len(report.rejected)}, "
        f"marked deleted {len(report.deleted)}"
    )
    for name in report.rejected:
        console.print(f"  [yellow]rejected[/] {name}")
    _hint_rejections(env, report.bucket)


def _hint_rejections(env: str, bucket: str) -> None:
    """A sync appends only what events missed: point at uploads refused earlier."""
    from mlsys.registry import list_rejections
    from mlsys.registry.rejections import MAX_REJECTIONS

    earlier = [r for r in list_rejections(env, limit=MAX_REJECTIONS) if r.gcs_bucket == bucket]
    if earlier:
        console.print(
            f"[yellow]{len(earlier)} upload(s) to {bucket} were rejected (newest: "
            f"{earlier[0].object_name}): `mlsys models list --rejected --env {env}` says why[/]"
        )


@app.command(epilog="Example: mlsys models history titanic-survival -e prod")
def history(
    name: str,
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Only this env's trail (default: all)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show each version's lifecycle stage and the model's audit trail, oldest first."""
    from mlsys.promote.lifecycle import model_history

    result = model_history(name, env=env)
    if as_json:
        console.print_json(result.model_dump_json())
        return
    stages = [
        [
            s.version_label,
            s.stage,
            "\n".join(f"{e}:{status}" for e, status in s.environments.items()),
            ", ".join(s.aliases),
        ]
        for s in result.stages
    ]
    print_table(
        console,
        [Col("version", key=True), Col("stage", key=True), Col("environments"), Col("aliases")],
        stages,
        title=f"{name}: stages",
    )
    trail = [
        [
            f"{e.created_at:%Y-%m-%d %H:%M}",
            e.environment,
            e.action,
            f"v{e.model_version}" if e.model_version is not None else "",
            e.actor or "",
            e.details or "",
        ]
        for e in result.audit
    ]
    cols = [
        Col("time", text=True),
        Col("env", key=True),
        Col("action", key=True),
        Col("version", key=True),
        Col("actor", drop=1),
        Col("details", text=True, drop=2),
    ]
    print_table(console, cols, trail, title=f"{name}: audit", show_lines=True)
