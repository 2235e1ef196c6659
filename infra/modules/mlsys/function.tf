# Registry Cloud Function (gen2): registers every change of the models bucket.
locals {
  function_name = "mlsys-registry-${var.environment}"

  # The deployed zip holds functions/registry/* at its root and the library as mlsys/.
  function_dir = "${local.repo_root}/functions/registry"
  library_dir  = "${local.repo_root}/src/mlsys"
  source_patterns = [
    "**/*.py",
    "**/*.json",
    "**/*.sql",
    "**/*.yaml",
    "**/*.txt",
    "**/py.typed",
  ]
  function_files = toset(flatten([for p in local.source_patterns : tolist(fileset(local.function_dir, p))]))
  library_files  = toset(flatten([for p in local.source_patterns : tolist(fileset(local.library_dir, p))]))

  # The function owns the "finalized" trigger; Eventarc triggers below add the others.
  # The bucket is versioned, so deleting a live object emits "archived" (not "deleted"):
  # the function treats both as the end of that generation.
  registry_function_event = "google.cloud.storage.object.v1.finalized"
  registry_extra_events = {
    deleted          = "google.cloud.storage.object.v1.deleted"
    archived         = "google.cloud.storage.object.v1.archived"
    metadata-updated = "google.cloud.storage.object.v1.metadataUpdated"
  }
}

data "archive_file" "registry_function" {
  type        = "zip"
  output_path = "${path.root}/.terraform/build/registry-function-${var.environment}.zip"

  dynamic "source" {
    for_each = local.function_files
    content {
      filename = source.value
      content  = file("${local.function_dir}/${source.value}")
    }
  }

  dynamic "source" {
    for_each = local.library_files
    content {
      filename = "mlsys/${source.value}"
      content  = file("${local.library_dir}/${source.value}")
    }
  }
}

resource "google_storage_bucket_object" "registry_function_source" {
  # Content-addressed name: a code change uploads a new object and redeploys the function.
  name   = "registry/${data.archive_file.registry_function.output_sha256}.zip"
  bucket = google_storage_bucket.function_source.name
  source = data.archive_file.registry_function.output_path
}

resource "google_pubsub_topic" "registry_dead_letter" {
  # checkov:skip=CKV_GCP_83:Google-managed encryption; dead-lettered events only carry object names.
  project = var.project_id
  name    = "mlsys-registry-dead-letter-${var.environment}"
  labels  = local.labels

  message_retention_duration = "604800s"

  depends_on = [google_project_service.required]
}

# Keeps dead-lettered events for inspection and replay (see docs/deploy.md).
resource "google_pubsub_subscription" "registry_dead_letter" {
  project = var.project_id
  name    = "mlsys-registry-dead-letter-${var.environment}"
  topic   = google_pubsub_topic.registry_dead_letter.id
  labels  = local.labels

  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

resource "google_cloudfunctions2_function" "registry" {
  project     = var.project_id
  name        = local.function_name
  location    = var.region
  description = "Appends model artifact events of gs://${google_storage_bucket.models.name} to ${local.dataset_id}.model_registry_events."
  labels      = local.labels

  build_config {
    runtime         = "python312"
    entry_point     = "on_gcs_event"
    service_account = google_service_account.function_build.id

    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.registry_function_source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.registry_function.email
    available_memory                 = "1Gi"
    available_cpu                    = "1"
    timeout_seconds                  = 300
    min_instance_count               = 0
    max_instance_count               = var.function_max_instances
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    environment_variables            = local.app_env
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = local.registry_function_event
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.eventarc.email

    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.models.name
    }
  }

  depends_on = [
    google_project_iam_member.gcs_agent_publishes_events,
    google_project_iam_member.eventarc_receives_events,
    google_project_iam_member.function_build,
    google_storage_bucket_iam_member.build_reads_function_source,
  ]
}

# Deleted and metadataUpdated events go to the same function through Eventarc
# triggers on its Cloud Run service (a gen2 function owns a single trigger).
# Eventarc delivers through Pub/Sub and retries failed deliveries with backoff;
# the deploy workflow attaches the dead-letter topic to each trigger's
# subscription (Eventarc creates and owns those subscriptions).
resource "google_eventarc_trigger" "registry" {
  for_each = local.registry_extra_events

  project         = var.project_id
  name            = "${local.function_name}-${each.key}"
  location        = var.region
  service_account = google_service_account.eventarc.email
  labels          = local.labels

  matching_criteria {
    attribute = "type"
    value     = each.value
  }

  matching_criteria {
    attribute = "bucket"
    value     = google_storage_bucket.models.name
  }

  destination {
    cloud_run_service {
      # A gen2 function runs as the Cloud Run service of the same name.
      service = google_cloudfunctions2_function.registry.name
      region  = var.region
    }
  }

  depends_on = [
    google_project_iam_member.gcs_agent_publishes_events,
    google_cloud_run_v2_service_iam_member.eventarc_invokes_function,
  ]
}
