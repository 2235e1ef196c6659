"""CLI tables at the terminal's width: optional columns go first, names are never cut."""

from __future__ import annotations

import pytest
from rich.console import Console

from mlsys.cli.models import LIST_COLUMNS as COLS  # the columns of `mlsys models list`
from mlsys.cli.tables import fit_table, print_table

NAME = "a-model-name-that-is-long-enough-to-matter"
ROWS = [
    [
        NAME,
        "v12",
        "12",
        "A description of several words, one of them unbreakable-and-long-a-lot",
        "demo, titanic, classification",
        "cv_accuracy=0.7868\ntest_accuracy=0.8090",
    ],
    ["m", "v1", "1", "", "", ""],
]


def _render(width: int) -> tuple[list[str], list[str]]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    table, dropped = fit_table(COLS, ROWS, console=console, title="models")
    console.print(table)
    return console.export_text().splitlines(), dropped


@pytest.mark.parametrize("width", [200, 120, 100, 80, 64])
def test_a_table_fits_and_never_cuts_a_name(width):
    lines, dropped = _render(width)
    assert all(len(line) <= width for line in lines), max(map(len, lines))
    text = "\n".join(lines)
    assert NAME in text and "v12" in text  # whole, on one line
    assert "…" not in text
    for header in (c.header for c in COLS):
        assert (header in text) != (header in dropped), (header, dropped)


def test_columns_go_least_useful_first_and_only_when_needed():
    assert _render(200)[1] == []
    assert _render(110)[1] == ["description"]
    assert _render(100)[1] == ["description", "tags"]
    assert _render(64)[1] == ["description", "tags", "metrics", "versions"]


def test_metric_values_are_never_folded_while_a_wider_column_can_give():
    lines, dropped = _render(110)
    assert "metrics" not in dropped
    assert any("test_accuracy=0.8090" in line for line in lines)


def test_print_table_says_which_columns_it_left_out():
    console = Console(width=64, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    print_table(console, COLS, ROWS)
    assert "not shown at 64 columns: description, tags, metrics, versions" in " ".join(
        console.export_text().split()
    )
