"""Cloud Storage JSON API requests (as fake-gcs-server serves them) -> the permissions they need.

- ``GET /b?project=P``, ``POST /b``: ``storage.buckets.list|create`` on P;
  ``GET|PATCH|PUT|DELETE /b/B``: ``storage.buckets.get|update|update|delete`` on B.
- ``GET /b/B/o``: ``storage.objects.list`` on B.
- ``GET /b/B/o/O`` (metadata or ``alt=media``), ``GET /download/.../b/B/o/O``:
  ``storage.objects.get``; ``PATCH|PUT``: ``storage.objects.update``; ``DELETE``:
  ``storage.objects.delete``.
- uploads (media, multipart, the start of a resumable one): ``storage.objects.create``, plus
  ``storage.objects.delete`` when O exists (an overwrite; not with ``ifGenerationMatch=0``).
- ``.../rewriteTo/...``, ``.../copyTo/...``: ``get`` on the source, ``create`` (+ ``delete``) on
  the destination; ``.../compose``: ``get`` on each source, ``create`` on the destination.
- the chunks of a resumable upload (``PUT ?upload_id=``): none, the session URL was authorized
  when it started, as on Google Cloud.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlsys.local.iam import Check
from mlsys.local.proxy.routes import Route, fixed, q, segments

_BUCKET_METHODS = {"GET": "get", "PATCH": "update", "PUT": "update", "DELETE": "delete"}
_OBJECT_METHODS = {"GET": "get", "HEAD": "get", "PATCH": "update", "PUT": "update"}


def obj(bucket: str, name: str) -> str:
    return f"buckets/{bucket}/objects/{name}"


def create_checks(bucket: str, name: str, query: Mapping[str, str]) -> list[Check]:
    """Writing ``name``: create, and delete when it replaces a live object."""
    checks = [Check("storage.objects.create", obj(bucket, name))]
    if query.get("ifGenerationMatch") != "0":  # with 0 an existing object is a 412, not a write
        where = f"/storage/v1/b/{q(bucket)}/o/{q(name)}"
        checks.append(Check("storage.objects.delete", obj(bucket, name), when=("exists", where)))
    return checks


def route(method: str, raw_path: str, query: Mapping[str, str], project: str) -> Route:
    """The route of a request to fake-gcs-server; ``project`` is the default for bucket lists."""
    segs = segments(raw_path)
    if segs[:3] == ["upload", "storage", "v1"]:
        return _upload(method, segs[3:], query)
    if segs[:3] == ["download", "storage", "v1"]:
        segs = segs[3:]
        if len(segs) == 4 and segs[0] == "b" and segs[2] == "o":
            return fixed(Check("storage.objects.get", obj(segs[1], segs[3])))
    elif segs[:2] == ["storage", "v1"]:
        return _json_api(method, segs[2:], query, project)
    if segs and segs[0] not in ("_internal", "batch", "") and len(segs) >= 2:
        return _public_host(method, segs)  # storage.googleapis.com/B/O style
    return _owner_only(raw_path, project)


def _json_api(method: str, segs: list[str], query: Mapping[str, str], project: str) -> Route:
    if segs == ["b"]:
        verb = "list" if method == "GET" else "create"
        return fixed(Check(f"storage.buckets.{verb}", f"projects/{query.get('project', project)}"))
    if len(segs) < 2 or segs[0] != "b":
        return _owner_only("/".join(segs), project)
    bucket = segs[1]
    rest = segs[2:]
    if not rest and method in _BUCKET_METHODS:
        return fixed(Check(f"storage.buckets.{_BUCKET_METHODS[method]}", f"buckets/{bucket}"))
    if rest == ["iam"]:
        verb = "getIamPolicy" if method == "GET" else "setIamPolicy"
        return fixed(Check(f"storage.buckets.{verb}", f"buckets/{bucket}"))
    if rest == ["iam", "testPermissions"]:
        return fixed()
    if rest == ["o"]:
        if method == "GET":
            return fixed(Check("storage.objects.list", f"buckets/{bucket}"))
        return _named_insert(bucket, query)
    if len(rest) == 2 and rest[0] == "o":
        name = rest[1]
        if method == "DELETE":
            return fixed(Check("storage.objects.delete", obj(bucket, name)))
        if method in _OBJECT_METHODS:
            return fixed(Check(f"storage.objects.{_OBJECT_METHODS[method]}", obj(bucket, name)))
    if len(rest) == 3 and rest[0] == "o" and rest[2] == "compose":
        return _compose(bucket, rest[1], query)
    if len(rest) == 7 and rest[0] == "o" and rest[2] in ("rewriteTo", "copyTo"):
        source, (dst_bucket, dst_name) = obj(bucket, rest[1]), (rest[4], rest[6])
        return fixed(
            Check("storage.objects.get", source), *create_checks(dst_bucket, dst_name, query)
        )
    return _owner_only("/".join(segs), project)


def _upload(method: str, segs: list[str], query: Mapping[str, str]) -> Route:
    if len(segs) != 3 or segs[0] != "b" or segs[2] != "o":
        return _owner_only("/upload/" + "/".join(segs), "")
    bucket = segs[1]
    if "upload_id" in query:  # a started resumable session: authorized when it was started
        return fixed()
    kind = query.get("uploadType", "media")
    if kind == "multipart" and "name" not in query:
        return Route("multipart", lambda meta: create_checks(bucket, _name(meta, query), query))
    if kind == "resumable" and "name" not in query:
        return Route("json", lambda meta: create_checks(bucket, _name(meta, query), query))
    return fixed(*create_checks(bucket, query.get("name", ""), query))


def _named_insert(bucket: str, query: Mapping[str, str]) -> Route:
    if "name" in query:
        return fixed(*create_checks(bucket, query["name"], query))
    return Route("json", lambda meta: create_checks(bucket, _name(meta, query), query))


def _compose(bucket: str, name: str, query: Mapping[str, str]) -> Route:
    def checks(meta: dict[str, Any] | None) -> list[Check]:
        sources = [s.get("name", "") for s in (meta or {}).get("sourceObjects", [])]
        gets = [Check("storage.objects.get", obj(bucket, s)) for s in sources]
        return [*gets, *create_checks(bucket, name, query)]

    return Route("json", checks)


def _name(meta: dict[str, Any] | None, query: Mapping[str, str]) -> str:
    return str((meta or {}).get("name") or query.get("name") or "")


def _public_host(method: str, segs: list[str]) -> Route:
    bucket, name = segs[0], "/".join(segs[1:])
    if method in ("GET", "HEAD"):
        return fixed(Check("storage.objects.get", obj(bucket, name)))
    if method == "DELETE":
        return fixed(Check("storage.objects.delete", obj(bucket, name)))
    return fixed(*create_checks(bucket, name, {}))


def _owner_only(what: str, project: str) -> Route:
    """A call the local stack does not map (batch, admin): only the owner may make it."""
    return fixed(Check("storage.*", f"projects/{project or '_'}/unmapped/{what}"))
