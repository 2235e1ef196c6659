"""Reading the registry: versions by vN/N/latest, search, tags, pagination, clear errors."""

from __future__ import annotations

import pytest

from mlsys.errors import InvalidInput, InvalidVersion, ModelNotFound, VersionNotFound
from mlsys.registry import get_version, list_models, list_versions
from mlsys.registry.store import InMemoryRegistryStore
from tests.registry.test_store import ev


@pytest.fixture
def store():
    s = InMemoryRegistryStore("dev")
    s.append(
        [
            ev("churn", 1),
            ev("churn", 2),
            ev("churn", 3, "deleted"),
            ev("churn", 2, kind="metadata", description="Customer churn", tags=["prod", "tabular"]),
            ev("fraud", 1),
            ev("fraud", 1, kind="metadata", description="card fraud", tags=["tabular"]),
            ev("zeta", 4),
        ]
    )
    return s


@pytest.mark.parametrize("spec, expected", [("latest", 2), ("v1", 1), ("1", 1), (2, 2)])
def test_get_version_specs(store, spec, expected):
    assert get_version("dev", "churn", spec, store=store).model_version == expected


@pytest.mark.parametrize(
    "name, spec, error, message",
    [
        ("nope", "latest", ModelNotFound, "'nope' is not registered in dev"),
        ("churn", "v9", VersionNotFound, r"no version v9 in dev \(registered: v1, v2\)"),
        ("churn", "v3", VersionNotFound, "v3 of 'churn' in dev is deleted"),
        ("churn", "v01", InvalidVersion, "positive integer"),
    ],
)
def test_get_version_errors(store, name, spec, error, message):
    with pytest.raises(error, match=message):
        get_version("dev", name, spec, store=store)


def test_unset_alias_is_a_clear_error(stack, store):
    # Aliases live in BigQuery (mlsys_dev.model_aliases): 'churn' exists only in this store, so
    # no alias row names it on the emulator.
    with pytest.raises(VersionNotFound, match="champion"):
        get_version("dev", "churn", "champion", store=store)


def test_list_versions_includes_deleted(store):
    assert [(v.version_label, v.status) for v in list_versions("dev", "churn", store=store)] == [
        ("v1", "registered"),
        ("v2", "registered"),
        ("v3", "deleted"),
    ]


def test_search_in_name_and_description_and_tags(store):
    assert [m.model_name for m in list_models("dev", store=store).models] == [
        "churn",
        "fraud",
        "zeta",
    ]
    assert [m.model_name for m in list_models("dev", search="CARD", store=store).models] == [
        "fraud"
    ]
    assert [m.model_name for m in list_models("dev", search="chu", store=store).models] == ["churn"]
    assert [m.model_name for m in list_models("dev", tags=["tabular"], store=store).models] == [
        "churn",
        "fraud",
    ]
    assert list_models("dev", tags=["tabular", "prod"], store=store).models[0].versions == 2


def test_pagination(store):
    first = list_models("dev", limit=2, store=store)
    assert [m.model_name for m in first.models] == ["churn", "fraud"] and first.next_page_token
    second = list_models("dev", limit=2, page_token=first.next_page_token, store=store)
    assert [m.model_name for m in second.models] == ["zeta"] and second.next_page_token is None


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 501}, {"page_token": "!!!"}])
def test_bad_paging_arguments(store, kwargs):
    with pytest.raises(InvalidInput):
        list_models("dev", store=store, **kwargs)
