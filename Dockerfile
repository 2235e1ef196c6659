# checkov:skip=CKV_DOCKER_2:Cloud Run ignores HEALTHCHECK; its startup (/ready) and liveness (/health) probes live in infra/modules/mlsys/run.tf, and the job run from this image serves no HTTP.
# mlsys prediction image: the FastAPI service (uvicorn service.main:app) and the
# sharded Cloud Run job (python -m mlsys.jobs.predict) share it.
# Built and pushed by .github/workflows/deploy.yml; deployments use its digest.

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# --- build: resolve the locked dependencies, then install the project ----------
FROM python:3.12-slim-bookworm AS build
COPY --from=uv /uv /uvx /bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /app

# Dependencies only: this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-group local --no-install-project

# The library itself, installed as a regular (non-editable) package.
COPY README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-group local --no-editable

# --- runtime: slim Python, the virtualenv and the service package, no uv ------
FROM python:3.12-slim-bookworm AS runtime

RUN groupadd --system --gid 10001 mlsys \
    && useradd --system --uid 10001 --gid mlsys --no-create-home --home-dir /app mlsys

WORKDIR /app
COPY --from=build --chown=mlsys:mlsys /app/.venv /app/.venv
COPY --chown=mlsys:mlsys service ./service
# Drift thresholds of the prediction jobs (MLSYS_MONITORING_CONFIG, relative to /app).
COPY --chown=mlsys:mlsys monitoring.yaml ./

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8080

USER 10001:10001
EXPOSE 8080

# Cloud Run sets $PORT; one worker per instance, Cloud Run scales instances.
CMD ["sh", "-c", "exec uvicorn service.main:app --host 0.0.0.0 --port \"${PORT:-8080}\" --proxy-headers --forwarded-allow-ips='*'"]
