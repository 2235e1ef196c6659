from __future__ import annotations

import pytest

from mlsys.bq import bq_put
from tests.predict.helpers import numeric_frame


@pytest.fixture(scope="session")
def numeric_table(stack, settings):
    """200 rows: row_id + f0..f3 (a few NULLs in f1), shared read-only input."""
    frame = numeric_frame(200)
    frame.loc[[3, 50], "f1"] = None
    table = f"{settings.dataset_ref('dev')}.predict_numeric"
    bq_put(frame, table, "WRITE_TRUNCATE")
    return table, frame
