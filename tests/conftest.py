"""Session fixtures: the same local stack `mlsys local up` starts, once per test session.

Nothing here mocks the Google clients: tests talk to fake-gcs-server and bqemulator over HTTP
and gRPC, to the registry function under functions-framework and to the service under uvicorn.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlsys.local.stack import LocalStack, StackInfo
from mlsys.settings import Settings, get_settings, reset_settings

ROOT = Path(__file__).resolve().parents[1]

# The tests' own custom estimators (a slow model, a flaky one) load through the allow-list
# unpickler as a user's would: by trusting their modules. Set before the stack starts, so the
# service, the function and job tasks inherit it too.
os.environ.setdefault("MLSYS_TRUSTED_MODULES", "tests.jobs.slow,tests.predict.flaky")
# A worker that dies is taken over once its claim's lease runs out (60 s in production): short
# here, so the fault tests wait seconds, not minutes. Set before the stack starts (inherited).
os.environ.setdefault("MLSYS_JOB_LEASE_SECONDS", "10")

# Shared fixtures of browser tests (headless Chromium): tests/browser.py.
pytest_plugins = ["tests.browser"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """The whole local stack, started once, its endpoints exported to this process."""
    local = LocalStack(root=ROOT, state_dir=tmp_path_factory.mktemp("mlsys-stack"))
    info = local.up(owner_pid=os.getpid())  # a watchdog cleans up if pytest is killed
    SESSION_STACK[:] = [local]
    saved = {key: os.environ.get(key) for key in info.env}
    os.environ.update(info.env)
    reset_settings()
    try:
        yield info
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()
        local.down()


#: The session's LocalStack (its processes: the fault tests kill and restart them).
SESSION_STACK: list[LocalStack] = []


@pytest.fixture(scope="session")
def local_stack(stack: StackInfo) -> LocalStack:
    return SESSION_STACK[0]


@pytest.fixture(scope="session")
def settings(stack: StackInfo) -> Settings:
    return get_settings()


@pytest.fixture
def unique() -> str:
    """A short unique suffix so tests sharing the session stack never collide."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def dev_bucket(settings: Settings) -> str:
    return settings.bucket_for("dev")


@pytest.fixture
def dev_dataset(settings: Settings) -> str:
    """The dev registry dataset (in the dev project): inputs the service and job may read."""
    return settings.dataset_ref("dev")


@pytest.fixture
def dev_outputs(settings: Settings) -> str:
    """The dev predictions dataset: where the service and the job may write outputs."""
    return settings.predictions_dataset_ref("dev")


#: Modules that take a minute or more, scheduled first: pytest-xdist (`--dist loadfile`) hands
#: modules to its workers in collection order, and one of these collected last kept the other
#: worker idle for minutes at the end of the run.
SLOW_FIRST = (
    "tests/docs/test_readme.py",
    "tests/test_seed_notebook.py",
    "tests/test_notebook.py",
    "tests/jobs/test_shards.py",
    "tests/predict/test_faults.py",
    "tests/local/test_faults.py",
    "tests/ui/test_console.py",
    "tests/service/test_schemathesis.py",
    "tests/registry/test_event_path.py",
    "tests/test_cli.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return next((i for i, slow in enumerate(SLOW_FIRST) if path == slow), len(SLOW_FIRST))

    items.sort(key=rank)  # stable: a module's tests stay together and in their order
