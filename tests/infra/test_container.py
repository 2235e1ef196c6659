"""The container image definition: multi-stage uv build, non-root, uvicorn on $PORT."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def dockerfile(repo: Path) -> str:
    return (repo / "Dockerfile").read_text(encoding="utf-8")


def test_uv_image_is_pinned_to_a_version(dockerfile: str) -> None:
    assert re.search(r"^FROM ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+ AS uv$", dockerfile, re.M)


def test_dependencies_layer_comes_before_the_code(dockerfile: str) -> None:
    deps = dockerfile.index("--no-install-project")
    assert "--locked --no-dev --no-group local --no-install-project" in dockerfile
    assert dockerfile.index("COPY pyproject.toml uv.lock") < deps < dockerfile.index("COPY src")


def test_runtime_is_slim_and_not_root(dockerfile: str) -> None:
    stages = dockerfile.split("\nFROM ")
    runtime = stages[-1]
    assert runtime.startswith("python:3.12-slim")
    users = re.findall(r"^USER (\S+)", runtime, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert "uv" not in re.findall(r"COPY --from=(\S+)", runtime)


def test_cmd_runs_uvicorn_on_port(dockerfile: str) -> None:
    cmd = [line for line in dockerfile.splitlines() if line.startswith("CMD ")][-1]
    assert "uvicorn service.main:app" in cmd
    assert "${PORT:-8080}" in cmd


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, body) or fnmatch.fnmatch(path.split("/")[0], body):
            ignored = not negate
    return ignored


@pytest.mark.parametrize(
    "path",
    [
        "notebooks/demo.ipynb",
        "tests/test_x.py",
        "infra/envs/dev/main.tf",
        "bench/x.py",
        "docs/deploy.md",
        ".mlsys/local.env",
        ".git/HEAD",
        ".venv/bin/python",
    ],
)
def test_dockerignore_keeps_out(repo: Path, path: str) -> None:
    lines = (repo / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert _ignored(patterns, path)


@pytest.mark.parametrize(
    "path", ["pyproject.toml", "uv.lock", "src/mlsys/cli.py", "service/main.py"]
)
def test_dockerignore_keeps_in(repo: Path, path: str) -> None:
    lines = (repo / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert not _ignored(patterns, path)
