"""Fixtures of the infra tests: the repository's infra/ and disposable copies of it.

Self-contained on purpose: these tests need no emulator and use none of the root fixtures.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def infra(repo: Path) -> Path:
    return repo / "infra"


Mutate = Callable[[str, str, str], Path]


@pytest.fixture
def mutated_infra(infra: Path, tmp_path: Path) -> Mutate:
    """Copy infra/ and replace ``old`` by ``new`` in one file; returns the copy's infra dir."""
    copy = tmp_path / "infra"
    shutil.copytree(infra, copy, ignore=shutil.ignore_patterns(".terraform*"))

    def mutate(relative: str, old: str, new: str) -> Path:
        path = copy / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"mutation target not found in {relative}: {old!r}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return copy

    return mutate
