#!/usr/bin/env bash
# Promote MODEL vVERSION from FROM_ENV to TO_ENV with `mlsys promote`. Until the
# CLI has that command, copy the artifact folder between the env buckets: the
# target bucket's registry function then registers it like any upload.
set -euo pipefail

: "${MODEL:?}" "${VERSION:?}" "${FROM_ENV:?}" "${TO_ENV:?}"
dry_run=()
[[ "${DRY_RUN:-false}" == "true" ]] && dry_run=(--dry-run)

if uv run --no-sync mlsys promote --help >/dev/null 2>&1; then
  uv run --no-sync mlsys promote "$MODEL" "$VERSION" --from "$FROM_ENV" --to "$TO_ENV" "${dry_run[@]}"
  exit 0
fi

echo "::warning::'mlsys promote' is not available yet; copying the artifact folder instead"
src="gs://mlsys-models-${FROM_ENV}/${MODEL}/v${VERSION}"
dst="gs://mlsys-models-${TO_ENV}/${MODEL}/v${VERSION}"
gcloud storage ls "${src}/" >/dev/null
if gcloud storage ls "${dst}/" >/dev/null 2>&1; then
  echo "::error::${dst} already exists; versions are immutable"
  exit 1
fi
if [[ ${#dry_run[@]} -gt 0 ]]; then
  echo "dry run: would copy ${src} -> ${dst}"
  gcloud storage ls -l "${src}/"
  exit 0
fi
# metadata.json first so the model event finds it, then the model file.
if gcloud storage ls "${src}/metadata.json" >/dev/null 2>&1; then
  gcloud storage cp --no-clobber "${src}/metadata.json" "${dst}/metadata.json"
fi
gcloud storage cp --no-clobber "${src}/model.*" "${dst}/"
