"""A project per environment (the local stack's default layout): a promotion reads the source
in its project and writes the target in its own, and nothing lands anywhere else."""

from __future__ import annotations

from google.api_core import exceptions as gexc

from mlsys.clients import bigquery_client
from mlsys.promote import promote
from mlsys.promote.lifecycle import model_history
from mlsys.settings import ENVIRONMENTS, get_settings
from tests.promote.conftest import config_for
from tests.promote.helpers import upload

MODEL = "projects-flow"


def _rows_in(project: str, dataset: str) -> int | None:
    """Rows of MODEL in ``project.dataset.model_registry``; None when that dataset is absent."""
    from google.cloud import bigquery

    sql = f"SELECT COUNT(*) AS n FROM `{project}.{dataset}.model_registry` WHERE model_name = @m"
    params = [bigquery.ScalarQueryParameter("m", "STRING", MODEL)]
    config = bigquery.QueryJobConfig(query_parameters=params)
    try:
        return int(next(iter(bigquery_client("dev").query(sql, job_config=config).result()))["n"])
    except gexc.NotFound:
        return None


def test_promotion_writes_each_env_in_its_own_project(model_bytes, metadata, training_table):
    settings = get_settings()
    projects = {env: settings.project_for(env) for env in ENVIRONMENTS}
    assert len(set(projects.values())) == 3  # the tested default layout
    assert training_table.startswith(f"{projects['dev']}.")

    upload(model_bytes, MODEL, 1, metadata=metadata())
    config = config_for(MODEL)
    first = promote(MODEL, "v1", from_env="dev", to_env="staging", config=config)
    second = promote(MODEL, "v1", from_env="staging", to_env="prod", config=config)
    assert (first.outcome, second.outcome) == ("promoted", "promoted")

    for env, project in projects.items():
        dataset = settings.dataset_for(env)
        assert _rows_in(project, dataset) == 1, f"{env} registry in {project}"
        for other in set(projects.values()) - {project}:
            assert _rows_in(other, dataset) is None, f"{dataset} must not exist in {other}"

    history = model_history(MODEL)
    assert {e.environment for e in history.audit} == set(ENVIRONMENTS)
    (stage,) = history.stages
    assert stage.stage == "production"
    assert set(stage.environments) == set(ENVIRONMENTS)
