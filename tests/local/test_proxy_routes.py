"""What each request to the emulators needs, as the proxy reads it (no stack needed)."""

from __future__ import annotations

import pytest

from mlsys.local.iam import Check
from mlsys.local.proxy import bigquery, storage
from mlsys.local.proxy.sql import statement_checks

P = "projects/p"
T = "projects/p/datasets/d/tables/t"
S = "projects/p/datasets/d/tables/s"
D = "projects/p/datasets/d"


def perms(checks: list[Check]) -> set[tuple[str, str]]:
    return {(c.permission, c.resource) for c in checks}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM `p.d.t`", {("bigquery.tables.getData", T)}),
        ("SELECT * FROM d.t", {("bigquery.tables.getData", T)}),  # the job's project
        (
            "INSERT INTO `p.d.t` (a) SELECT a FROM `p.d.s`",
            {("bigquery.tables.updateData", T), ("bigquery.tables.getData", S)},
        ),
        (
            "INSERT INTO `p.d.t` SELECT * FROM `p.d.s` WHERE NOT EXISTS (SELECT 1 FROM `p.d.t`)",
            {
                ("bigquery.tables.updateData", T),
                ("bigquery.tables.getData", S),
                ("bigquery.tables.getData", T),
            },
        ),
        (
            "MERGE `p.d.t` T USING `p.d.s` S ON T.a = S.a WHEN NOT MATCHED THEN INSERT ROW",
            {
                ("bigquery.tables.updateData", T),
                ("bigquery.tables.getData", T),
                ("bigquery.tables.getData", S),
            },
        ),
        (
            "DELETE FROM `p.d.t` WHERE TRUE",
            {("bigquery.tables.updateData", T), ("bigquery.tables.getData", T)},
        ),
        ("TRUNCATE TABLE `p.d.t`", {("bigquery.tables.updateData", T)}),
        ("DROP TABLE IF EXISTS `p.d.t`", {("bigquery.tables.delete", T)}),
        ("ALTER TABLE `p.d.t` ADD COLUMN c INT64", {("bigquery.tables.update", T)}),
        (
            "CREATE TABLE `p.d.t` AS SELECT * FROM `p.d.s`",
            {
                ("bigquery.tables.create", D),
                ("bigquery.tables.updateData", T),
                ("bigquery.tables.getData", S),
            },
        ),
        (
            "CREATE OR REPLACE VIEW `p.d.t` AS SELECT * FROM `p.d.s`",
            {
                ("bigquery.tables.create", D),
                ("bigquery.tables.update", T),
                ("bigquery.tables.getData", S),
            },
        ),
        ("WITH c AS (SELECT 1 AS x) SELECT * FROM c", set()),  # a CTE is no table
        (
            "BEGIN TRANSACTION; DELETE FROM `p.d.t` WHERE TRUE; COMMIT TRANSACTION;",
            {("bigquery.tables.updateData", T), ("bigquery.tables.getData", T)},
        ),
        ("SELECT * FROM `p.d.INFORMATION_SCHEMA.TABLES`", {("bigquery.tables.list", D)}),
    ],
)
def test_sql_needs_what_bigquery_checks(sql, expected):
    assert perms(statement_checks(sql, "p")) == expected


def test_short_names_use_the_default_dataset():
    assert perms(statement_checks("SELECT * FROM t", "p", "q.d2")) == {
        ("bigquery.tables.getData", "projects/q/datasets/d2/tables/t")
    }


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO `p.d.t` VALUES (((",  # unparsable
        "GRANT `roles/bigquery.dataViewer` ON TABLE `p.d.t` TO 'user:x'",  # not understood
        "EXPORT DATA OPTIONS(uri='gs://b/*') AS SELECT * FROM `p.d.t`",
    ],
)
def test_a_script_the_parser_cannot_read_needs_every_write(sql):
    found = perms(statement_checks(sql, "p"))
    assert {
        ("bigquery.tables.updateData", T),
        ("bigquery.tables.delete", T),
        ("bigquery.tables.create", D),
    } <= found


@pytest.mark.parametrize(
    ("method", "path", "query", "need", "expected"),
    [
        ("GET", "/storage/v1/b/m/o", {}, "none", {("storage.objects.list", "buckets/m")}),
        (
            "GET",
            "/storage/v1/b/m/o/a%2Fv1%2Fmodel.pkl",
            {},
            "none",
            {("storage.objects.get", "buckets/m/objects/a/v1/model.pkl")},
        ),
        (
            "GET",
            "/download/storage/v1/b/m/o/a%2Fb",
            {"alt": "media"},
            "none",
            {("storage.objects.get", "buckets/m/objects/a/b")},
        ),
        (
            "PATCH",
            "/storage/v1/b/m/o/x",
            {},
            "none",
            {("storage.objects.update", "buckets/m/objects/x")},
        ),
        (
            "DELETE",
            "/storage/v1/b/m/o/x",
            {},
            "none",
            {("storage.objects.delete", "buckets/m/objects/x")},
        ),
        ("GET", "/storage/v1/b/m", {}, "none", {("storage.buckets.get", "buckets/m")}),
        (
            "GET",
            "/storage/v1/b",
            {"project": "q"},
            "none",
            {("storage.buckets.list", "projects/q")},
        ),
        ("POST", "/upload/storage/v1/b/m/o", {"uploadType": "multipart"}, "multipart", None),
        ("POST", "/upload/storage/v1/b/m/o", {"uploadType": "resumable"}, "json", None),
        (
            "PUT",
            "/upload/storage/v1/b/m/o",
            {"uploadType": "resumable", "upload_id": "u"},
            "none",
            set(),
        ),
        ("POST", "/batch/storage/v1", {}, "none", None),
    ],
)
def test_storage_routes(method, path, query, need, expected):
    route = storage.route(method, path, query, "p")
    assert route.need == need
    if expected is not None:
        assert perms(route.checks(None)) == expected


def test_an_upload_needs_delete_only_when_it_overwrites():
    checks = storage.route("POST", "/upload/storage/v1/b/m/o", {"uploadType": "multipart"}, "p")
    create, delete = checks.checks({"name": "a/v1/model.pkl"})
    assert (create.permission, create.when) == ("storage.objects.create", None)
    assert delete.permission == "storage.objects.delete"
    assert delete.when == ("exists", "/storage/v1/b/m/o/a%2Fv1%2Fmodel.pkl")
    precondition = {"uploadType": "multipart", "ifGenerationMatch": "0"}
    only = storage.route("POST", "/upload/storage/v1/b/m/o", precondition, "p").checks(
        {"name": "x"}
    )
    assert [c.permission for c in only] == ["storage.objects.create"]


def test_rewrite_reads_the_source_and_creates_the_destination():
    path = "/storage/v1/b/src/o/a%2Fv1%2Fm.pkl/rewriteTo/b/dst/o/a%2Fv1%2Fm.pkl"
    checks = storage.route("POST", path, {"ifGenerationMatch": "0"}, "p").checks(None)
    assert perms(checks) == {
        ("storage.objects.get", "buckets/src/objects/a/v1/m.pkl"),
        ("storage.objects.create", "buckets/dst/objects/a/v1/m.pkl"),
    }


def test_jobs_insert_needs_the_job_project_and_the_tables():
    route = bigquery.route("POST", "/bigquery/v2/projects/p/jobs", {})
    assert route.need == "json"
    query = {
        "configuration": {"query": {"query": "INSERT INTO `p.d.t` SELECT 1", "useLegacySql": False}}
    }
    assert perms(route.checks(query)) == {
        ("bigquery.jobs.create", P),
        ("bigquery.tables.updateData", T),
    }
    load = {
        "configuration": {
            "load": {"destinationTable": {"projectId": "p", "datasetId": "d", "tableId": "t"}}
        }
    }
    checks = route.checks(load)
    create = next(c for c in checks if c.permission == "bigquery.tables.create")
    assert create.resource == D and create.when == (
        "missing",
        "/bigquery/v2/projects/p/datasets/d/tables/t",
    )
    copy = {
        "configuration": {
            "copy": {
                "sourceTables": [{"projectId": "p", "datasetId": "d", "tableId": "s"}],
                "destinationTable": {"projectId": "p", "datasetId": "d", "tableId": "t"},
                "createDisposition": "CREATE_NEVER",
            }
        }
    }
    assert perms(route.checks(copy)) == {
        ("bigquery.jobs.create", P),
        ("bigquery.tables.getData", S),
        ("bigquery.tables.updateData", T),
    }


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        (
            "POST",
            "/bigquery/v2/projects/p/datasets/d/tables/t/insertAll",
            ("bigquery.tables.updateData", T),
        ),
        ("GET", "/bigquery/v2/projects/p/datasets/d/tables/t/data", ("bigquery.tables.getData", T)),
        ("GET", "/bigquery/v2/projects/p/datasets/d/tables/t", ("bigquery.tables.get", T)),
        ("DELETE", "/bigquery/v2/projects/p/datasets/d/tables/t", ("bigquery.tables.delete", T)),
        ("POST", "/bigquery/v2/projects/p/datasets/d/tables", ("bigquery.tables.create", D)),
        ("GET", "/bigquery/v2/projects/p/datasets/d", ("bigquery.datasets.get", D)),
        ("POST", "/bigquery/v2/projects/p/datasets", ("bigquery.datasets.create", P)),
        ("GET", "/bigquery/v2/projects/p/queries/j", ("bigquery.jobs.create", P)),
    ],
)
def test_bigquery_rest_routes(method, path, expected):
    assert perms(bigquery.route(method, path, {}).checks(None)) == {expected}
