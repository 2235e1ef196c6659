"""Schemathesis hooks (loaded through ``SCHEMATHESIS_HOOKS``): generated requests may only ever
write to a scratch dataset.

Any well-formed ``output_table`` a generated ``/predict`` request names is moved into
``SCHEMATHESIS_SCRATCH`` (``project.dataset``), keeping its table name; malformed ones are left
as generated (they are refused before anything is read or written).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

from mlsys.errors import MlsysError
from mlsys.identifiers import parse_table_id


def confine(value: Any, scratch: str) -> Any:
    """``value`` moved into the scratch dataset if it is a table id the service would accept."""
    if not isinstance(value, str):
        return value
    try:
        ref = parse_table_id(value, default_project="mlsys-local")
    except MlsysError:
        return value
    return f"{scratch}.{ref.table}"


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: Any) -> None:
    scratch = os.environ["SCHEMATHESIS_SCRATCH"]
    for part in (case.body, case.query):
        if isinstance(part, dict) and "output_table" in part:
            part["output_table"] = confine(part["output_table"], scratch)
