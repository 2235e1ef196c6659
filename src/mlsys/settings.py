"""The one settings object of mlsys, read from the environment, `.env` and `.mlsys/local.env`.

Nothing else in the package reads ``os.environ``. Build it with :func:`get_settings`; it is
cached, so clients and entry points share one validated instance.

The seed's module constants still work (``from mlsys.settings import GCP_PROJECT_ID``): they are
resolved lazily from :func:`get_settings` by the module ``__getattr__`` below.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Re-exported: the project's files are found without pydantic (mlsys.project).
from mlsys.project import LOCAL_DIR_NAME as LOCAL_DIR_NAME
from mlsys.project import LOCAL_ENV_NAME as LOCAL_ENV_NAME
from mlsys.project import find_project_root as find_project_root
from mlsys.project import local_env_file as local_env_file

Environment = Literal["dev", "staging", "prod"]
ENVIRONMENTS: tuple[Environment, ...] = ("dev", "staging", "prod")


class Settings(BaseSettings):
    """Configuration of every mlsys entry point (CLI, function, service, notebooks)."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    gcp_project_id: str = Field("mlsys-local", alias="GCP_PROJECT_ID")
    # A project per environment (the layout teams that keep prod apart use). Each defaults to
    # GCP_PROJECT_ID, so a single-project set-up and the seed's names keep working.
    gcp_project_id_dev: str | None = Field(None, alias="GCP_PROJECT_ID_DEV")
    gcp_project_id_staging: str | None = Field(None, alias="GCP_PROJECT_ID_STAGING")
    gcp_project_id_prod: str | None = Field(None, alias="GCP_PROJECT_ID_PROD")
    gcp_region: str = Field("europe-west1", alias="GCP_REGION")
    mlsys_env: Environment = Field("dev", alias="MLSYS_ENV")

    gcs_bucket_models_dev: str = Field("mlsys-models-dev", alias="GCS_BUCKET_MODELS_DEV")
    gcs_bucket_models_staging: str = Field(
        "mlsys-models-staging", alias="GCS_BUCKET_MODELS_STAGING"
    )
    gcs_bucket_models_prod: str = Field("mlsys-models-prod", alias="GCS_BUCKET_MODELS_PROD")
    dataset_prefix: str = Field("mlsys", alias="MLSYS_DATASET_PREFIX")

    storage_emulator_host: str | None = Field(None, alias="STORAGE_EMULATOR_HOST")
    bigquery_emulator_host: str | None = Field(None, alias="BIGQUERY_EMULATOR_HOST")
    bigquery_storage_emulator_host: str | None = Field(None, alias="BIGQUERY_STORAGE_EMULATOR_HOST")
    service_url: str | None = Field(None, alias="MLSYS_SERVICE_URL")
    # Local stack only: the identity this process acts as against the enforcing emulator proxy
    # (service, function, job, or promoter@ENV); unset means the project owner, as a person's
    # own credentials in a notebook. On Google Cloud, Application Default Credentials decide.
    local_identity: str | None = Field(None, alias="MLSYS_LOCAL_IDENTITY")
    function_url: str | None = Field(None, alias="MLSYS_FUNCTION_URL")

    bq_location: str = Field("EU", alias="BQ_LOCATION")
    predict_chunk_rows: int = Field(50_000, alias="MLSYS_PREDICT_CHUNK_ROWS", gt=0)
    model_cache_size: int = Field(8, alias="MLSYS_MODEL_CACHE_SIZE", ge=0)
    promotion_config: str = Field("promotion.yaml", alias="MLSYS_PROMOTION_CONFIG")
    actor: str | None = Field(None, alias="MLSYS_ACTOR")
    log_level: str = Field("INFO", alias="MLSYS_LOG_LEVEL")

    # A job's claims are leased: a worker that stops renewing for this long (it died) loses
    # its part of the job to whoever retries it (docs/reliability.md).
    job_lease_seconds: float = Field(60.0, alias="MLSYS_JOB_LEASE_SECONDS", ge=1.0)
    # Cloud Run Job tasks (mlsys.predict.task): Cloud Run sets the task variables.
    cloud_run_task_index: int = Field(0, alias="CLOUD_RUN_TASK_INDEX", ge=0)
    cloud_run_task_count: int = Field(1, alias="CLOUD_RUN_TASK_COUNT", gt=0)
    cloud_run_task_attempt: int = Field(0, alias="CLOUD_RUN_TASK_ATTEMPT", ge=0)
    predict_job_name: str | None = Field(None, alias="MLSYS_PREDICT_JOB")
    cloud_run_endpoint: str | None = Field(None, alias="MLSYS_CLOUD_RUN_ENDPOINT")
    schedules_config: str = Field("schedules.yaml", alias="MLSYS_SCHEDULES_CONFIG")

    # Safe artifact loading (mlsys.artifacts, mlsys.safe_pickle): module prefixes a pickle may
    # use beyond scikit-learn/numpy/scipy/pandas (custom estimators), comma-separated, and the
    # largest artifact the service downloads (checked on the object's metadata first).
    trusted_modules: str = Field("", alias="MLSYS_TRUSTED_MODULES")
    max_artifact_bytes: int = Field(2 * 1024**3, alias="MLSYS_MAX_ARTIFACT_BYTES", gt=0)

    @field_validator("trusted_modules")
    @classmethod
    def _module_prefixes(cls, value: str) -> str:
        for prefix in filter(None, (p.strip() for p in value.split(","))):
            if not all(part.isidentifier() for part in prefix.split(".")):
                raise ValueError(f"MLSYS_TRUSTED_MODULES: {prefix!r} is not a module name")
        return value

    @property
    def trusted_module_prefixes(self) -> tuple[str, ...]:
        """``MLSYS_TRUSTED_MODULES`` as a tuple of module prefixes."""
        return tuple(p.strip() for p in self.trusted_modules.split(",") if p.strip())

    # Online prediction (mlsys.online, POST /models/{name}/versions/{version}:predict).
    online_max_instances: int = Field(1000, alias="MLSYS_ONLINE_MAX_INSTANCES", gt=0)
    online_max_body_bytes: int = Field(10 * 1024 * 1024, alias="MLSYS_ONLINE_MAX_BODY_BYTES", gt=0)
    online_extra_fields: Literal["ignore", "refuse"] = Field(
        "ignore", alias="MLSYS_ONLINE_EXTRA_FIELDS"
    )
    online_cache_ttl_s: float = Field(30.0, alias="MLSYS_ONLINE_CACHE_TTL_S", gt=0)
    online_onnx_trial_rows: int = Field(32, alias="MLSYS_ONLINE_ONNX_TRIAL_ROWS", ge=0)
    online_onnx_tolerance: float = Field(1e-5, alias="MLSYS_ONLINE_ONNX_TOLERANCE", ge=0)

    # Monitoring (mlsys.monitoring): drift thresholds, and JSON logs for Cloud Logging.
    monitoring_config: str = Field("monitoring.yaml", alias="MLSYS_MONITORING_CONFIG")
    log_format: Literal["json", "text"] = Field("json", alias="MLSYS_LOG_FORMAT")

    @field_validator("storage_emulator_host", "bigquery_emulator_host")
    @classmethod
    def _with_scheme(cls, value: str | None) -> str | None:
        if value and "://" not in value:
            return f"http://{value}"
        return value

    # -- environments ---------------------------------------------------------------------
    def project_for(self, env: str) -> str:
        """The project that holds ``env``'s datasets and buckets and bills its jobs."""
        specific = {
            "dev": self.gcp_project_id_dev,
            "staging": self.gcp_project_id_staging,
            "prod": self.gcp_project_id_prod,
        }[check_env(env)]
        return specific or self.gcp_project_id

    def dataset_ref(self, env: str) -> str:
        """``project.mlsys_{env}``: the registry dataset of ``env`` in its own project."""
        return f"{self.project_for(env)}.{self.dataset_for(env)}"

    def ops_dataset_ref(self, env: str) -> str:
        """``project.mlsys_ops_{env}``: job bookkeeping of ``env`` in its own project."""
        return f"{self.project_for(env)}.{self.ops_dataset_for(env)}"

    def predictions_dataset_for(self, env: str) -> str:
        """Where ``env``'s prediction outputs land by default (``mlsys_predictions_{env}``): the
        service and the job may write there, never in the registry dataset."""
        return f"{self.dataset_prefix}_predictions_{check_env(env)}"

    def predictions_dataset_ref(self, env: str) -> str:
        return f"{self.project_for(env)}.{self.predictions_dataset_for(env)}"

    def bucket_for(self, env: str) -> str:
        """The models bucket configured for ``env``."""
        return {
            "dev": self.gcs_bucket_models_dev,
            "staging": self.gcs_bucket_models_staging,
            "prod": self.gcs_bucket_models_prod,
        }[check_env(env)]

    def dataset_for(self, env: str) -> str:
        """The registry dataset of ``env`` (``mlsys_{env}``)."""
        return f"{self.dataset_prefix}_{check_env(env)}"

    def ops_dataset_for(self, env: str) -> str:
        """Job bookkeeping of ``env`` (``mlsys_ops_{env}``): prediction job status and shard
        plans. Separate from the registry dataset so the service and job accounts, which may
        only read the registry, can write there."""
        return f"{self.dataset_prefix}_ops_{check_env(env)}"

    def env_for_bucket(self, bucket: str) -> Environment | None:
        """The environment whose configured bucket is ``bucket`` (not a suffix guess)."""
        for env in ENVIRONMENTS:
            if self.bucket_for(env) == bucket:
                return env
        return None

    def actor_name(self) -> str:
        """Who is acting: ``MLSYS_ACTOR``, else ``user@host`` (recorded as uploader/actor)."""
        if self.actor:
            return self.actor
        import getpass
        import socket

        return f"{getpass.getuser()}@{socket.gethostname()}"

    @property
    def uses_emulators(self) -> bool:
        return bool(self.storage_emulator_host or self.bigquery_emulator_host)


def check_env(env: str) -> Environment:
    """Validate an environment name, raising :class:`mlsys.errors.InvalidEnvironment`."""
    if env not in ENVIRONMENTS:
        from mlsys.errors import InvalidEnvironment

        raise InvalidEnvironment(
            f"unknown environment {env!r}: expected one of {', '.join(ENVIRONMENTS)}"
        )
    return env


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings: environment variables win over ``.env`` and the local stack
    file ``.mlsys/local.env`` (written by ``mlsys local up``)."""
    root = find_project_root()
    files = [p for p in (root / ".env", local_env_file(root)) if p.is_file()]
    return Settings(_env_file=files or None)


def reset_settings() -> None:
    """Forget the cached settings and clients (after the local stack changed)."""
    get_settings.cache_clear()
    from mlsys import clients
    from mlsys.registry import store

    clients.reset_clients()
    store.registry_store.cache_clear()


_SEED_CONSTANTS = {
    "GCP_PROJECT_ID": "gcp_project_id",
    "GCP_REGION": "gcp_region",
    "GCS_BUCKET_MODELS_DEV": "gcs_bucket_models_dev",
    "GCS_BUCKET_MODELS_STAGING": "gcs_bucket_models_staging",
    "GCS_BUCKET_MODELS_PROD": "gcs_bucket_models_prod",
}


def __getattr__(name: str) -> Any:
    """Keep the seed's ``from mlsys.settings import GCP_PROJECT_ID`` working."""
    if name in _SEED_CONSTANTS:
        return getattr(get_settings(), _SEED_CONSTANTS[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
