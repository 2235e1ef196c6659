"""The whole-registry listing is re-read only when events arrived, and never hides one."""

from __future__ import annotations

from mlsys.clients import storage_client
from mlsys.gcs import gcs_put
from mlsys.registry import list_models, wait_for_version
from mlsys.registry.store import BigQueryRegistryStore
from tests.registry.conftest import wait_until

BUCKET = "mlsys-models-dev"


def _latest(store: BigQueryRegistryStore, model: str) -> tuple[str, int] | None:
    found = [m for m in list_models("dev", search=model, store=store).models]
    return (found[0].latest_version_label, found[0].versions) if found else None


def test_a_listing_read_twice_shows_every_new_upload_and_delete(stack, unique):
    model = f"listing-{unique}"
    store = BigQueryRegistryStore("dev")  # its own listing, read before each change
    assert _latest(store, model) is None
    gcs_put(b"one", BUCKET, f"{model}/v1/model.pkl")
    wait_for_version("dev", model, 1)
    assert _latest(store, model) == ("v1", 1)
    assert _latest(store, model) == ("v1", 1)  # the same answer, events unchanged

    gcs_put(b"two", BUCKET, f"{model}/v2/model.pkl")
    wait_for_version("dev", model, 2)
    assert _latest(store, model) == ("v2", 2)

    storage_client().bucket(BUCKET).blob(f"{model}/v2/model.pkl").delete()
    assert wait_until(lambda: _latest(store, model) == ("v1", 1))
