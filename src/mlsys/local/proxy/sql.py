"""The tables a GoogleSQL script reads and writes, and the BigQuery permissions that needs.

Parsed with sqlglot in the BigQuery dialect (the parser bqemulator itself uses):

- every table read: ``bigquery.tables.getData``;
- ``INSERT``: ``updateData`` on the target; ``UPDATE``/``DELETE``/``MERGE``: ``updateData`` and
  ``getData`` on the target; ``TRUNCATE TABLE``: ``updateData``;
- ``CREATE TABLE|VIEW``: ``bigquery.tables.create`` on the dataset (+ ``updateData`` on the table
  for ``AS SELECT``; + ``bigquery.tables.update`` for ``OR REPLACE``); ``DROP``:
  ``bigquery.tables.delete``; ``ALTER``: ``bigquery.tables.update``.

Views are checked as the tables they are (``getData`` on the view), not expanded. A script the
parser cannot read, or a statement it does not know, is never let through on a guess: every
table-like name in it is treated as read, written, created and deleted.
"""

from __future__ import annotations

import re
from typing import Any

from mlsys.local.iam import Check

_KNOWN_READ_ONLY = frozenset(
    {
        "Select",
        "Union",
        "Except",
        "Intersect",
        "Transaction",
        "Commit",
        "Rollback",
        "Declare",
        "Set",
    }
)
#: `a.b.c`, `a.b`, a.b.c (project ids may hold hyphens): what a name of a table may look like.
_TABLE_LIKE = re.compile(r"`([^`]+)`|\b([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+){1,2})\b")


def table(project: str, dataset: str, name: str) -> str:
    return f"projects/{project}/datasets/{dataset}/tables/{name}"


def dataset_of(table_resource: str) -> str:
    return table_resource.rsplit("/tables/", 1)[0]


def statement_checks(sql: str, project: str, default_dataset: str | None = None) -> list[Check]:
    """The checks of a query job's SQL; ``project`` and ``default_dataset`` qualify short names."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    except Exception:  # any parser failure: fall back to the conservative reading
        return _conservative(sql, project, default_dataset)
    checks: list[Check] = []
    for statement in statements:
        found = _statement(statement, exp, project, default_dataset)
        if found is None:
            return _conservative(sql, project, default_dataset)
        checks.extend(found)
    return list(dict.fromkeys(checks))


def _statement(statement: Any, exp: Any, project: str, default: str | None) -> list[Check] | None:
    kind = type(statement).__name__
    writes = {"Insert", "Merge", "Update", "Delete", "Create", "Drop", "TruncateTable", "Alter"}
    if kind not in writes and kind not in _KNOWN_READ_ONLY:
        return None
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    target_nodes = _targets(statement, exp) if kind in writes else []
    targets = [_resource(node, project, default, ctes) for node in target_nodes]
    if kind in writes and (not targets or None in targets):
        return None  # a write whose target cannot be named: do not guess
    checks: list[Check] = []
    for node in statement.find_all(exp.Table):
        if any(node is target for target in target_nodes):
            continue
        resource = _resource(node, project, default, ctes)
        if resource is not None:
            checks.append(_read_check(resource))
    for target in targets:
        assert target is not None
        checks.extend(_write_checks(kind, statement, target))
    return checks


def _targets(statement: Any, exp: Any) -> list[Any]:
    """The tables a write statement changes (``TRUNCATE`` lists them, the others name one)."""
    if type(statement).__name__ == "TruncateTable":
        nodes = list(statement.expressions)
    else:
        node = statement.this
        nodes = [node.this if isinstance(node, exp.Schema) else node]
    return (
        [n for n in nodes if isinstance(n, exp.Table)]
        if all(isinstance(n, exp.Table) for n in nodes)
        else []
    )


def _write_checks(kind: str, statement: Any, target: str) -> list[Check]:
    get = Check("bigquery.tables.getData", target)
    update = Check("bigquery.tables.updateData", target)
    if kind == "Insert" or kind == "TruncateTable":
        return [update]
    if kind in ("Update", "Delete", "Merge"):
        return [update, get]
    if kind == "Drop":
        return [Check("bigquery.tables.delete", target)]
    if kind == "Alter":
        return [Check("bigquery.tables.update", target)]
    # CREATE [OR REPLACE] TABLE|VIEW [AS SELECT]
    checks = [Check("bigquery.tables.create", dataset_of(target))]
    args = statement.args
    if args.get("replace"):
        checks.append(Check("bigquery.tables.update", target))
    if args.get("expression") is not None and str(args.get("kind", "")).upper() != "VIEW":
        checks.append(update)
    return checks


def _read_check(resource: str) -> Check:
    name = resource.rsplit("/", 1)[-1]
    if name.upper().startswith("INFORMATION_SCHEMA"):  # metadata views of a dataset
        return Check("bigquery.tables.list", dataset_of(resource))
    return Check("bigquery.tables.getData", resource)


def _resource(node: Any, project: str, default: str | None, ctes: set[str]) -> str | None:
    name, dataset, catalog = node.name, node.db, node.catalog
    if not dataset:
        if name in ctes or not default:
            return None  # a CTE (or a name BigQuery itself would reject)
        return table(*_qualify(default, project), name)
    return table(catalog or project, dataset, name)


def _qualify(default: str, project: str) -> tuple[str, str]:
    first, _, second = default.partition(".")
    return (first, second) if second else (project, first)


def _conservative(sql: str, project: str, default: str | None) -> list[Check]:
    """Every table-like name, as if read, written, created and deleted: a script the parser
    cannot read needs the caller to hold all of that on everything it names."""
    checks: list[Check] = []
    for match in _TABLE_LIKE.finditer(sql):
        parts = (match.group(1) or match.group(2)).split(".")
        if len(parts) == 3:
            resource = table(*parts)
        elif len(parts) == 2:
            resource = table(project, *parts)
        else:
            continue
        checks += [
            Check("bigquery.tables.getData", resource),
            Check("bigquery.tables.updateData", resource),
            Check("bigquery.tables.create", dataset_of(resource)),
            Check("bigquery.tables.delete", resource),
        ]
    if not checks:  # nothing named that could be checked: only the owner runs it
        checks.append(Check("bigquery.tables.updateData", table(project, "_unparsed", "_script")))
    return list(dict.fromkeys(checks))
