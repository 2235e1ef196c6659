from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from mlsys.registry.store import BigQueryRegistryStore


def wait_until(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        time.sleep(interval)


@pytest.fixture
def dev_store(stack) -> BigQueryRegistryStore:
    return BigQueryRegistryStore("dev")
