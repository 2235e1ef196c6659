"""The one settings object: env vars, .mlsys/local.env, seed constants, environments."""

from __future__ import annotations

import pytest

from mlsys import settings as settings_module
from mlsys.errors import InvalidEnvironment
from mlsys.settings import Settings


def test_defaults_follow_the_seed_names():
    s = Settings(_env_file=None)
    assert [s.bucket_for(e) for e in ("dev", "staging", "prod")] == [
        "mlsys-models-dev",
        "mlsys-models-staging",
        "mlsys-models-prod",
    ]
    assert s.dataset_for("prod") == "mlsys_prod"


def test_env_comes_from_configured_bucket_names_not_suffixes():
    s = Settings(_env_file=None, GCS_BUCKET_MODELS_PROD="acme-ml-live")
    assert s.env_for_bucket("acme-ml-live") == "prod"
    assert s.env_for_bucket("mlsys-models-prod") is None
    assert s.env_for_bucket("something-dev") is None


def test_unknown_env_is_a_clear_error():
    with pytest.raises(InvalidEnvironment, match="expected one of dev, staging, prod"):
        Settings(_env_file=None).bucket_for("qa")


def test_emulator_host_gets_a_scheme():
    s = Settings(_env_file=None, STORAGE_EMULATOR_HOST="127.0.0.1:9000")
    assert s.storage_emulator_host == "http://127.0.0.1:9000"


def test_local_env_file_is_read(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / ".mlsys").mkdir()
    (tmp_path / ".mlsys" / "local.env").write_text(
        "GCP_PROJECT_ID=from-local-env\nSTORAGE_EMULATOR_HOST=http://127.0.0.1:1\n"
    )
    monkeypatch.chdir(tmp_path)
    for key in ("GCP_PROJECT_ID", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(key, raising=False)
    settings_module.get_settings.cache_clear()
    try:
        assert settings_module.get_settings().gcp_project_id == "from-local-env"
        assert settings_module.GCP_PROJECT_ID == "from-local-env"  # the seed's constant
    finally:
        settings_module.get_settings.cache_clear()


def test_env_var_wins_over_local_env(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / ".mlsys").mkdir()
    (tmp_path / ".mlsys" / "local.env").write_text("GCP_PROJECT_ID=from-file\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GCP_PROJECT_ID", "from-env")
    settings_module.get_settings.cache_clear()
    try:
        assert settings_module.get_settings().gcp_project_id == "from-env"
    finally:
        settings_module.get_settings.cache_clear()


def test_env_example_documents_every_setting():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / ".env.example").read_text()
    missing = [f.alias for f in Settings.model_fields.values() if f.alias and f.alias not in text]
    assert missing == []
