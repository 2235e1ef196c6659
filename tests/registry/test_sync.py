"""`registry sync`: rescans a bucket, registers what events missed, never duplicates."""

from __future__ import annotations

from mlsys.clients import storage_client
from mlsys.gcs import gcs_put
from mlsys.registry.store import InMemoryRegistryStore
from mlsys.registry.sync import sync_bucket
from tests.registry.conftest import wait_until


def test_sync_registers_missed_objects_once(stack, unique):
    # The events reached the BigQuery registry, never this fresh store: for it, all were missed.
    gcs_put(b"m", "mlsys-models-staging", f"sync-{unique}/v1/model.pkl")
    gcs_put(b"{}", "mlsys-models-staging", f"sync-{unique}/v1/metadata.json")
    gcs_put(b"x", "mlsys-models-staging", f"sync-{unique}/README.md")
    store = InMemoryRegistryStore("staging")
    first = sync_bucket("staging", store=store)
    assert f"sync-{unique}/v1/model.pkl" in first.registered
    assert f"sync-{unique}/README.md" in first.rejected
    (row,) = store.current(model_name=f"sync-{unique}")
    assert row["status"] == "registered" and row["sha256"]
    again = sync_bucket("staging", store=store)
    assert again.appended == 0 and again.already_recorded == first.scanned


def test_sync_records_deletes_that_were_missed(stack, unique):
    store = InMemoryRegistryStore("staging")
    gcs_put(b"m", "mlsys-models-staging", f"vanish-{unique}/v1/model.pkl")
    sync_bucket("staging", store=store)
    storage_client().bucket("mlsys-models-staging").blob(f"vanish-{unique}/v1/model.pkl").delete()
    report = sync_bucket("staging", store=store)
    assert report.deleted == [f"vanish-{unique}/v1/model.pkl"]
    assert store.current(model_name=f"vanish-{unique}")[0]["status"] == "deleted"
    assert sync_bucket("staging", store=store).appended == 0


def test_sync_after_live_events_appends_nothing_for_them(stack, dev_store, unique):
    gcs_put(b"m", "mlsys-models-dev", f"live-{unique}/v1/model.pkl")
    wait_until(lambda: dev_store.current(model_name=f"live-{unique}"))
    before = len(dev_store.events(model_name=f"live-{unique}"))
    report = sync_bucket("dev")
    assert f"live-{unique}/v1/model.pkl" not in report.registered
    assert len(dev_store.events(model_name=f"live-{unique}")) == before
