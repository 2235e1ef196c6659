#!/usr/bin/env bash
# Every offline check of the infrastructure and delivery files (see
# ../shared/OFFLINE_CHECKS.md): terraform fmt + providers, checkov (with the
# custom Cloud Run v2 policy, proven to fire), actionlint, shellcheck, hadolint.
# Run from the repo root after `uv sync --locked`; the HCL structure tests live
# in tests/infra and run with pytest.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

CHECKOV_VERSION="3.3.30"

# .ci/run exports UV_BIN (the real binary, not a pyenv shim that breaks in /tmp).
if [[ -n "${UV_BIN:-}" ]]; then
  UV=("$UV_BIN")
elif command -v uv >/dev/null 2>&1; then
  UV=(uv)
else
  UV=(python3 -m uv)
fi
# Tools come from the project's locked dev group (already synced by .ci/run).
run() { "${UV[@]}" run --project "$ROOT" --locked --no-sync "$@"; }
checkov() {
  "${UV[@]}" tool run --quiet --python 3.12 --from "checkov==${CHECKOV_VERSION}" \
    checkov --skip-download --quiet --compact "$@"
}
step() { printf '\n== %s\n' "$*"; }

# A CLI config path that does not exist only makes terraform print warnings.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "$TF_CLI_CONFIG_FILE" ]]; then
  unset TF_CLI_CONFIG_FILE
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "terraform fmt"
run terraform fmt -check -recursive -diff infra

# `terraform providers` loads a configuration without provider downloads: it
# catches syntax errors, duplicate names and broken module paths. The env roots
# are checked on a copy without their gcs backend (which would demand init).
step "terraform providers (module and env roots)"
cp -r infra "$work/infra"
for dir in "$work"/infra/modules/* "$work"/infra/envs/*; do
  name="${dir#"$work"/}"
  sed -i '/backend "gcs" {/,/^  }/d' "$dir"/*.tf
  (
    cd "$dir"
    export TF_DATA_DIR="$work/tfdata/$name"
    run terraform get -no-color >/dev/null
    run terraform providers -no-color >/dev/null
  ) || { echo "terraform providers failed in $name" >&2; exit 1; }
  echo "ok  $name"
done

step "checkov ${CHECKOV_VERSION}: terraform (+ custom policy CKV2_MLSYS_1)"
checkov -d infra --framework terraform --external-checks-dir infra/policies

# CKV_GHA_7 forbids any workflow_dispatch input; deploy (image digest) and
# promote-model (model, version, envs) need inputs by design. They reach the
# scripts only through env: and are validated before use.
step "checkov ${CHECKOV_VERSION}: Dockerfile and GitHub Actions"
checkov -d . --framework dockerfile github_actions --skip-check CKV_GHA_7 \
  --skip-path '\.venv' --skip-path '\.mlsys' --skip-path infra --skip-path notebooks

# The custom policy must actually catch a public invoker on Cloud Run v2.
step "checkov custom policy rejects a public Cloud Run v2 invoker"
mkdir -p "$work/public"
cat >"$work/public/main.tf" <<'HCL'
resource "google_cloud_run_v2_service_iam_member" "public" {
  project  = "p"
  location = "europe-west1"
  name     = "svc"
  role     = "roles/run.invoker"
  member   = "allUsers"
}
HCL
if checkov -d "$work/public" --framework terraform --external-checks-dir infra/policies \
  --check CKV2_MLSYS_1 >"$work/public.log" 2>&1; then
  cat "$work/public.log"
  echo "CKV2_MLSYS_1 did not flag an allUsers invoker" >&2
  exit 1
fi
grep -q "CKV2_MLSYS_1" "$work/public.log"
echo "ok  allUsers invoker rejected"

step "actionlint"
run actionlint -no-color

step "shellcheck"
run shellcheck .ci/infra.sh .github/scripts/*.sh

step "hadolint"
run hadolint --failure-threshold warning Dockerfile

printf '\ninfra checks passed\n'
