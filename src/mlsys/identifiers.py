"""Validation of names that end up in BigQuery requests: table ids, column names, datasets.

User input never becomes SQL text unless it passed these checks; values go in as query
parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlsys.errors import InvalidIdentifier, InvalidTableId

# Project ids: 6-30 chars, lowercase letters, digits, hyphens (plus legacy "domain:" prefix).
_PROJECT = r"(?:[a-z][a-z0-9.\-]{0,61}:)?[a-z][a-z0-9\-]{4,28}[a-z0-9]"
_DATASET = r"[A-Za-z_][A-Za-z0-9_]{0,1023}"
_TABLE = r"[A-Za-z_][A-Za-z0-9_\-]{0,1023}"
_TABLE_RE = re.compile(
    rf"^(?:(?P<project>{_PROJECT})\.)?(?P<dataset>{_DATASET})\.(?P<table>{_TABLE})$"
)
#: BigQuery's longest table name, in UTF-8 bytes.
MAX_TABLE_NAME = 1024
_COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")


@dataclass(frozen=True)
class TableRef:
    """A validated ``project.dataset.table``."""

    project: str
    dataset: str
    table: str

    def __str__(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"

    @property
    def sql(self) -> str:
        """The id quoted for SQL, safe because every part passed validation."""
        return f"`{self.project}.{self.dataset}.{self.table}`"

    def with_table(self, table: str) -> TableRef:
        return parse_table_id(f"{self.project}.{self.dataset}.{table}")

    def derived(self, suffix: str) -> TableRef:
        """A job's auxiliary table ``{table}{suffix}`` beside this one. Refused when the name
        would pass BigQuery's limit: cutting it would make two jobs share a table, or make the
        auxiliary table the table itself."""
        name = f"{self.table}{suffix}"
        if len(name.encode()) > MAX_TABLE_NAME:
            raise InvalidTableId(
                f"table name {self.table[:40]!r}... is {len(self.table)} characters: too long for "
                f"its job's table {self.table[:10]}...{suffix} ({len(name)} > {MAX_TABLE_NAME}); "
                f"use a name of at most {MAX_TABLE_NAME - len(suffix)} characters"
            )
        return self.with_table(name)


def parse_table_id(table_id: str, *, default_project: str | None = None) -> TableRef:
    """Parse ``project.dataset.table`` (or ``dataset.table`` with a default project)."""
    if not isinstance(table_id, str) or not table_id.strip():
        raise InvalidTableId("table id is empty: expected 'project.dataset.table'")
    match = _TABLE_RE.match(table_id.strip())
    if not match:
        raise InvalidTableId(
            f"malformed table id {table_id!r}: expected 'project.dataset.table' with a project "
            "of lowercase letters, digits and hyphens, and dataset/table names of letters, "
            "digits and underscores"
        )
    project = match.group("project") or default_project
    if not project:
        raise InvalidTableId(
            f"table id {table_id!r} has no project: expected 'project.dataset.table'"
        )
    return TableRef(project, match.group("dataset"), match.group("table"))


def check_column(name: str) -> str:
    """A BigQuery column name that is safe to quote in SQL."""
    if not isinstance(name, str) or not _COLUMN_RE.match(name):
        raise InvalidIdentifier(
            f"invalid column name {name!r}: expected letters, digits and underscores, "
            "not starting with a digit"
        )
    return name


def safe_column_name(raw: object, *, prefix: str = "") -> str:
    """Turn any label (e.g. a class value) into a valid column name, deterministically."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", f"{prefix}{raw}")
    if not text or text[0].isdigit():
        text = f"_{text}"
    return text[:300]
