#!/usr/bin/env bash
# Smoke test of a freshly deployed prediction service: /health, /ready and, when
# SMOKE_MODEL and SMOKE_INPUT_TABLE are configured, one tiny prediction.
set -euo pipefail

: "${SERVICE_URL:?}" "${ID_TOKEN:?}" "${GCP_PROJECT_ID:?}" "${ENVIRONMENT:?}"
auth=(-H "Authorization: Bearer ${ID_TOKEN}")

curl -fsS --retry 5 --retry-all-errors --retry-delay 5 --max-time 30 "${auth[@]}" "${SERVICE_URL}/health"
echo
curl -fsS --retry 5 --retry-all-errors --retry-delay 5 --max-time 30 "${auth[@]}" "${SERVICE_URL}/ready"
echo

if [[ -z "${SMOKE_MODEL:-}" || -z "${SMOKE_INPUT_TABLE:-}" ]]; then
  echo "::warning::SMOKE_MODEL / SMOKE_INPUT_TABLE_${ENVIRONMENT^^} not set: prediction smoke test skipped"
  exit 0
fi

output_table="${GCP_PROJECT_ID}.${SMOKE_OUTPUT_DATASET:?}.smoke_${RUN_ID:-manual}"
body="$(jq -n \
  --arg env "$ENVIRONMENT" \
  --arg input "$SMOKE_INPUT_TABLE" \
  --arg output "$output_table" \
  --arg model "$SMOKE_MODEL" \
  --arg version "${SMOKE_MODEL_VERSION:-1}" \
  '{env: $env, input_table: $input, output_table: $output, model_name: $model, model_version: $version}')"

curl -fsS --max-time 600 "${auth[@]}" -H "Content-Type: application/json" \
  -X POST --data "$body" "${SERVICE_URL}/predict"
echo
