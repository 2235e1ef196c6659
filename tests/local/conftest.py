"""Fixtures of the local-stack tests; infra/ and its mutated copies come from tests/infra."""

from tests.infra.conftest import infra, mutated_infra, repo

__all__ = ["infra", "mutated_infra", "repo"]
