"""The read-only web console at ``/ui``: server-rendered pages over the same library functions
as the API (registry, lifecycle, jobs, drift, shadow). Jinja2 templates and one stylesheet ship
in this package; charts are inline SVG (:mod:`service.ui.charts`): it works with no internet."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

from mlsys import audit
from mlsys.errors import MlsysError
from mlsys.monitoring.reports import drift_by_feature, job_report, job_reports
from mlsys.monitoring.store import DriftRow, model_drift, shadows
from mlsys.promote.lifecycle import version_stages
from mlsys.registry import get_version, list_models, list_versions
from mlsys.registry.aliases import alias_of_models, current_aliases
from mlsys.settings import ENVIRONMENTS, check_env
from service.deps import SettingsDep
from service.ui import charts

HERE = Path(__file__).parent
router = APIRouter(prefix="/ui", include_in_schema=False)


def _duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None:
        return ""
    seconds = ((end or dt.datetime.now(dt.UTC)) - start).total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f} min"


@functools.cache
def templates() -> Jinja2Templates:
    """The console's templates, loaded on the first page (a cold start stays light)."""
    from fastapi.templating import Jinja2Templates

    found = Jinja2Templates(directory=str(HERE / "templates"))
    found.env.globals.update(duration=_duration, environments=ENVIRONMENTS)
    found.env.filters["when"] = lambda t: f"{t:%Y-%m-%d %H:%M:%S}" if t else ""
    found.env.filters["pct"] = lambda v: "-" if v is None else f"{v:.1%}"
    found.env.filters["num"] = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"
    return found


def _page(request: Request, template: str, env: str, **context: Any) -> HTMLResponse:
    return templates().TemplateResponse(request, template, {"env": env, **context})


@router.get("")
def home() -> RedirectResponse:
    return RedirectResponse("/ui/models")


@router.get("/static/console.css")
def stylesheet() -> FileResponse:
    return FileResponse(HERE / "static" / "console.css", media_type="text/css")


@router.get("/models")
def models_page(request: Request, settings: SettingsDep, env: str | None = None) -> HTMLResponse:
    env = check_env(env or settings.mlsys_env)
    page = list_models(env, limit=500)
    champions = alias_of_models(env, "champion")
    return _page(request, "models.html", env, models=page.models, champions=champions)


@router.get("/models/{name}")
def model_page(
    request: Request, name: str, settings: SettingsDep, env: str | None = None
) -> HTMLResponse:
    env = check_env(env or settings.mlsys_env)
    versions = list_versions(env, name)
    stages = {s.model_version: s for s in version_stages(name)}
    drift = model_drift(env, name, jobs=20)
    return _page(
        request,
        "model.html",
        env,
        name=name,
        versions=list(reversed(versions)),
        stages=stages,
        aliases=current_aliases(env, name, missing_ok=True),
        jobs=job_reports(env, model_name=name, limit=20),
        drift_chart=_drift_chart(drift, name),
        shadows=shadows(env, model_name=name, limit=20),
        trail=list(reversed(audit.history(name, env=env)))[:50],
    )


@router.get("/models/{name}/versions/{version}")
def version_page(
    request: Request, name: str, version: str, settings: SettingsDep, env: str | None = None
) -> HTMLResponse:
    env = check_env(env or settings.mlsys_env)
    mv = get_version(env, name, version)
    from mlsys.monitoring.reference import load_reference

    profile = load_reference(mv, env=env)
    profile_charts = []
    if profile is not None:
        histograms = [*profile.features.items()]
        if profile.prediction is not None:
            histograms.append(("prediction", profile.prediction))
        for feature, hist in histograms:
            total = sum(hist.counts) or 1
            shares = [c / total for c in hist.counts]
            chart = charts.bars(hist.labels(), {"training": shares}, title=feature, width=380)
            profile_charts.append((feature, hist, chart))
    stage = next((s for s in version_stages(name) if s.model_version == mv.model_version), None)
    trail = [e for e in audit.history(name) if e.model_version == mv.model_version]
    return _page(
        request,
        "version.html",
        env,
        mv=mv,
        stage=stage,
        lineage=(mv.metadata or {}).get("lineage") or {},
        profile=profile,
        profile_charts=profile_charts,
        jobs=job_reports(env, model_name=name, version=mv.model_version, limit=20),
        trail=list(reversed(trail)),
    )


@router.get("/jobs")
def jobs_page(
    request: Request, settings: SettingsDep, env: str | None = None, model: str | None = None
) -> HTMLResponse:
    env = check_env(env or settings.mlsys_env)
    reports = job_reports(env, model_name=model or None, limit=100)
    return _page(request, "jobs.html", env, jobs=reports, model=model)


@router.get("/jobs/{job_id}")
def job_page(
    request: Request, job_id: str, settings: SettingsDep, env: str | None = None
) -> HTMLResponse:
    env = check_env(env or settings.mlsys_env)
    from mlsys.predict.engines import get_job

    report = job_report(env, get_job(env, job_id))
    drift_charts = [
        charts.bars(r.labels, {"training": r.reference, "this job": r.current}, title=r.feature)
        for r in report.drift
    ]
    shadow_chart = None
    if report.shadow is not None:
        s = report.shadow
        shadow_chart = charts.bars(
            s.labels,
            {f"v{s.model_version}": s.champion, f"v{s.shadow_version} (shadow)": s.challenger},
            title="prediction distributions",
        )
    return _page(
        request,
        "job.html",
        env,
        job=report.record,
        report=report,
        drift=list(zip(report.drift, drift_charts, strict=True)),
        shadow_chart=shadow_chart,
    )


def _drift_chart(rows: list[DriftRow], model_name: str) -> Any:
    """PSI per feature over the model's latest jobs, with the default thresholds."""
    if not rows:
        return None
    jobs = list(dict.fromkeys(r.job_id for r in rows))
    when = {r.job_id: f"{r.created_at:%m-%d %H:%M}" for r in rows}
    series = {}
    for feature, found in drift_by_feature(rows).items():
        by_job = {r.job_id: r.psi for r in found}
        series[feature] = [by_job.get(j) for j in jobs]
    from mlsys.monitoring.job import monitoring_config

    policy = monitoring_config().policy(model_name, "")
    return charts.lines(
        [when[j] for j in jobs],
        series,
        thresholds={"warn": policy.psi.warn, "alert": policy.psi.alert},
        title="PSI per feature, latest jobs (oldest first)",
    )


def error_page(request: Request, exc: MlsysError) -> HTMLResponse:
    """An mlsys error as a page of the console (the service's one error handler calls this)."""
    env = request.query_params.get("env") or ""
    response = templates().TemplateResponse(
        request, "error.html", {"env": env, "error": exc}, status_code=exc.http_status
    )
    return response
