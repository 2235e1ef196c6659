#!/usr/bin/env bash
# Eventarc creates (and owns) one Pub/Sub subscription per trigger, so Terraform
# cannot set its dead-letter policy: attach the module's dead-letter topic here.
# Idempotent. Usage: attach-dead-letter.sh OUTPUTS_JSON (terraform output -json).
set -euo pipefail

outputs="$1"
: "${GCP_PROJECT_ID:?}" "${GCP_REGION:?}"

topic="$(jq -r .registry_dead_letter_topic.value "$outputs")"
project_number="$(gcloud projects describe "$GCP_PROJECT_ID" --format='value(projectNumber)')"
pubsub_agent="serviceAccount:service-${project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"

jq -r '.registry_triggers.value[]' "$outputs" | while read -r trigger; do
  subscription="$(gcloud eventarc triggers describe "${trigger##*/}" \
    --location "$GCP_REGION" --project "$GCP_PROJECT_ID" \
    --format='value(transport.pubsub.subscription)')"
  echo "trigger ${trigger##*/} -> ${subscription} -> ${topic}"
  gcloud pubsub subscriptions update "$subscription" \
    --dead-letter-topic "$topic" --max-delivery-attempts 10 \
    --min-retry-delay 10s --max-retry-delay 600s --quiet
  # The Pub/Sub agent must be able to ack the message it moves to the topic.
  gcloud pubsub subscriptions add-iam-policy-binding "$subscription" \
    --member "$pubsub_agent" --role roles/pubsub.subscriber --quiet >/dev/null
done
