"""Input sources against the emulator: Storage Read API and paged list_rows agree."""

from __future__ import annotations

import pytest

from mlsys.errors import TableNotFound
from mlsys.identifiers import parse_table_id
from mlsys.predict.sources import BigQueryReadSource, ListRowsSource


@pytest.mark.parametrize("kind", [BigQueryReadSource, ListRowsSource])
def test_sources_stream_every_row_in_chunks(numeric_table, kind):
    table, frame = numeric_table
    source = kind(parse_table_id(table), chunk_rows=64)
    assert source.num_rows == 200 and source.schema.names == list(frame.columns)
    batches = list(source.batches(["row_id", "f1"]))
    assert max(b.num_rows for b in batches) <= 64
    assert sorted(r for b in batches for r in b.column("row_id").to_pylist()) == list(range(200))
    assert sum(b.column("f1").null_count for b in batches) == 2


def test_missing_input_table(stack, dev_dataset, unique):
    with pytest.raises(TableNotFound, match=f"nope_{unique}"):
        BigQueryReadSource(parse_table_id(f"{dev_dataset}.nope_{unique}"), chunk_rows=10)
