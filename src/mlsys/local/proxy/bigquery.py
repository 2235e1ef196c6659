"""BigQuery REST requests (bqemulator) -> the permissions they need.

- ``GET /projects/P/datasets``: none; the answer keeps the datasets the caller may
  ``bigquery.datasets.get``. ``POST``: ``bigquery.datasets.create`` on P.
- ``GET|PATCH|PUT|DELETE .../datasets/D``: ``bigquery.datasets.get|update|update|delete``.
- ``GET|POST .../D/tables``: ``bigquery.tables.list|create`` on D;
  ``GET|PATCH|PUT|DELETE .../tables/T``: ``bigquery.tables.get|update|update|delete``;
  ``POST .../T/insertAll``: ``updateData``; ``GET .../T/data``: ``getData``.
- ``POST /projects/P/jobs`` and ``/queries``: ``bigquery.jobs.create`` on P, plus per job kind:
  query: the SQL's tables (:mod:`.sql`), and a destination table ``updateData`` (+
  ``tables.create`` on its dataset if it does not exist); load (also ``/upload/...``, multipart
  or resumable): the destination likewise, ``storage.objects.get`` on ``gs://`` sources; copy:
  ``getData`` on the sources, the destination likewise; extract: ``bigquery.tables.export`` on
  the source, ``storage.objects.create`` on ``gs://`` destinations.
- ``GET|DELETE .../jobs/J``, ``.../cancel``, ``GET .../queries/J``: ``bigquery.jobs.create`` on
  P (a caller sees and cancels its own jobs); ``GET /projects/P/jobs``: ``bigquery.jobs.list``.
- the chunks of a resumable load (``PUT ?upload_id=``): none, authorized when it started.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlsys.local.iam import Check
from mlsys.local.proxy.routes import BodyNeed, Route, fixed, q, segments
from mlsys.local.proxy.sql import statement_checks, table

_DATASET_VERBS = {"GET": "get", "PATCH": "update", "PUT": "update", "DELETE": "delete"}
_TABLE_VERBS = {"GET": "get", "PATCH": "update", "PUT": "update", "DELETE": "delete"}
_ROUTINE_VERBS = {"GET": "get", "PATCH": "update", "PUT": "update", "DELETE": "delete"}
_MODEL_VERBS = {"GET": "getMetadata", "PATCH": "updateMetadata", "DELETE": "delete"}


def route(method: str, raw_path: str, query: Mapping[str, str]) -> Route:
    segs = segments(raw_path)
    upload = segs[:3] == ["upload", "bigquery", "v2"]
    if upload:
        segs = segs[3:]
    elif segs[:2] == ["bigquery", "v2"]:
        segs = segs[2:]
    else:
        return _owner_only(raw_path)
    if segs == ["projects"] or (len(segs) == 3 and segs[2] == "serviceAccount"):
        return fixed()
    if len(segs) < 3 or segs[0] != "projects":
        return _owner_only(raw_path)
    project, kind, rest = segs[1], segs[2], segs[3:]
    if kind == "datasets":
        return _datasets(method, project, rest)
    if kind in ("jobs", "queries"):
        return _jobs(method, project, kind, rest, query, upload)
    return _owner_only(raw_path)


def _datasets(method: str, project: str, rest: list[str]) -> Route:
    if not rest:
        if method == "GET":
            return Route("none", lambda _m: [], filter_datasets=True)
        return fixed(Check("bigquery.datasets.create", f"projects/{project}"))
    dataset = f"projects/{project}/datasets/{rest[0]}"
    if len(rest) == 1 and method in _DATASET_VERBS:
        return fixed(Check(f"bigquery.datasets.{_DATASET_VERBS[method]}", dataset))
    collection, items = rest[1] if len(rest) > 1 else "", rest[2:]
    if collection == "tables":
        if not items:
            verb = "list" if method == "GET" else "create"
            return fixed(Check(f"bigquery.tables.{verb}", dataset))
        resource = f"{dataset}/tables/{items[0]}"
        if len(items) == 1 and method in _TABLE_VERBS:
            return fixed(Check(f"bigquery.tables.{_TABLE_VERBS[method]}", resource))
        if items[1:] == ["insertAll"]:
            return fixed(Check("bigquery.tables.updateData", resource))
        if items[1:] == ["data"]:
            return fixed(Check("bigquery.tables.getData", resource))
        if items[1:2] == ["rowAccessPolicies"]:
            verb = "list" if method == "GET" else "update"
            return fixed(Check(f"bigquery.rowAccessPolicies.{verb}", resource))
    if collection in ("routines", "models"):
        verbs = _ROUTINE_VERBS if collection == "routines" else _MODEL_VERBS
        if not items:
            verb = "list" if method == "GET" else "create"
        else:
            verb = verbs.get(method, "update")
        return fixed(Check(f"bigquery.{collection}.{verb}", dataset))
    return _owner_only(f"/{dataset}/{'/'.join(rest[1:])}")


def _jobs(
    method: str, project: str, kind: str, rest: list[str], query: Mapping[str, str], upload: bool
) -> Route:
    create = Check("bigquery.jobs.create", f"projects/{project}")
    if rest:  # get / cancel / delete / getQueryResults of a job: the caller's own
        return fixed(create)
    if method == "GET":
        return fixed(Check("bigquery.jobs.list", f"projects/{project}"))
    if upload and "upload_id" in query:
        return fixed()  # the chunks of a resumable load: authorized when it was started
    if kind == "queries":
        return Route("json", lambda body: [create, *_query_request_checks(project, body or {})])
    need: BodyNeed = "multipart" if upload and query.get("uploadType") == "multipart" else "json"
    return Route(need, lambda body: [create, *job_checks(project, body or {})])


def _query_request_checks(project: str, body: dict[str, Any]) -> list[Check]:
    """``jobs.query``: a query job in the request's own shape."""
    default = body.get("defaultDataset") or {}
    return statement_checks(str(body.get("query", "")), project, _dataset_id(default, project))


def job_checks(project: str, job: dict[str, Any]) -> list[Check]:
    """The checks of a ``jobs.insert`` body, whatever its kind."""
    config = job.get("configuration") or {}
    checks: list[Check] = []
    if "query" in config:
        cfg = config["query"]
        default = _dataset_id(cfg.get("defaultDataset") or {}, project)
        checks += statement_checks(str(cfg.get("query", "")), project, default)
        if cfg.get("destinationTable"):
            checks += _destination(cfg["destinationTable"], cfg, project)
    if "load" in config:
        cfg = config["load"]
        checks += _destination(cfg.get("destinationTable") or {}, cfg, project)
        checks += [_gcs_read(uri) for uri in cfg.get("sourceUris") or []]
    if "copy" in config:
        cfg = config["copy"]
        sources = cfg.get("sourceTables") or (
            [cfg["sourceTable"]] if cfg.get("sourceTable") else []
        )
        checks += [Check("bigquery.tables.getData", _table(s, project)) for s in sources]
        checks += _destination(cfg.get("destinationTable") or {}, cfg, project)
    if "extract" in config:
        cfg = config["extract"]
        if cfg.get("sourceTable"):
            checks.append(Check("bigquery.tables.export", _table(cfg["sourceTable"], project)))
        for uri in cfg.get("destinationUris") or []:
            bucket, _, name = uri.removeprefix("gs://").partition("/")
            checks.append(Check("storage.objects.create", f"buckets/{bucket}/objects/{name}"))
    return checks


def _destination(ref: dict[str, Any], cfg: dict[str, Any], project: str) -> list[Check]:
    resource = _table(ref, project)
    checks = [Check("bigquery.tables.updateData", resource)]
    if cfg.get("createDisposition", "CREATE_IF_NEEDED") != "CREATE_NEVER":
        parts = resource.split("/")
        where = f"/bigquery/v2/projects/{q(parts[1])}/datasets/{q(parts[3])}/tables/{q(parts[5])}"
        dataset = resource.rsplit("/tables/", 1)[0]
        checks.append(Check("bigquery.tables.create", dataset, when=("missing", where)))
    return checks


def _gcs_read(uri: str) -> Check:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    if "*" in name:
        return Check("storage.objects.list", f"buckets/{bucket}")
    return Check("storage.objects.get", f"buckets/{bucket}/objects/{name}")


def _table(ref: dict[str, Any], project: str) -> str:
    return table(
        str(ref.get("projectId") or project), str(ref.get("datasetId")), str(ref.get("tableId"))
    )


def _dataset_id(ref: dict[str, Any], project: str) -> str | None:
    if not ref.get("datasetId"):
        return None
    return f"{ref.get('projectId') or project}.{ref['datasetId']}"


def _owner_only(what: str) -> Route:
    """A call the local stack does not map: only the owner may make it."""
    return fixed(Check("bigquery.*", f"projects/_/unmapped{what}"))
