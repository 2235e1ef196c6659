# Batch prediction: a Cloud Run v2 service (BigQuery table -> BigQuery table per
# request) and a Cloud Run v2 job (same image) for sharded runs over big tables.
# The image is rolled out by the deploy workflow (gcloud run deploy --image
# ...@sha256:...); Terraform only sets the first one and ignores it afterwards.
locals {
  service_name = "mlsys-predict-${var.environment}"
  job_name     = "mlsys-predict-job-${var.environment}"
}

resource "google_cloud_run_v2_service" "predict" {
  project     = var.project_id
  name        = local.service_name
  location    = var.region
  description = "mlsys batch prediction API (${var.environment})."
  labels      = local.labels

  # Reachable by Cloud Scheduler and callers with an identity token; IAM decides
  # who may invoke (no allUsers, enforced by checkov and tests/infra).
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.predict.email
    timeout                          = "${var.service_timeout_seconds}s"
    max_instance_request_concurrency = var.service_concurrency
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"
    labels                           = local.labels

    scaling {
      min_instance_count = var.service_min_instances
      max_instance_count = var.service_max_instances
    }

    containers {
      image = var.initial_image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.service_cpu
          memory = var.service_memory
        }
        # Batch requests run long: keep CPU allocated for the whole request and
        # do not throttle between them.
        cpu_idle          = false
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.app_env
        content {
          name  = env.key
          value = env.value
        }
      }

      startup_probe {
        http_get {
          path = "/ready"
        }
        initial_delay_seconds = 2
        period_seconds        = 5
        failure_threshold     = 24
        timeout_seconds       = 3
      }

      liveness_probe {
        http_get {
          path = "/health"
        }
        period_seconds    = 30
        failure_threshold = 3
        timeout_seconds   = 5
      }
    }
  }

  lifecycle {
    ignore_changes = [
      template[0].containers[0].image,
      client,
      client_version,
    ]
  }

  depends_on = [google_project_service.required]
}

resource "google_cloud_run_v2_job" "predict" {
  project  = var.project_id
  name     = local.job_name
  location = var.region
  labels   = local.labels

  deletion_protection = var.deletion_protection

  template {
    task_count  = var.job_task_count
    parallelism = var.job_parallelism
    labels      = local.labels

    template {
      service_account       = google_service_account.predict_job.email
      timeout               = "${var.job_task_timeout_seconds}s"
      max_retries           = 1
      execution_environment = "EXECUTION_ENVIRONMENT_GEN2"

      containers {
        image   = var.initial_image
        command = ["python"]
        args    = ["-m", "mlsys.predict.task"]

        resources {
          limits = {
            cpu    = var.job_cpu
            memory = var.job_memory
          }
        }

        dynamic "env" {
          for_each = local.app_env
          content {
            name  = env.key
            value = env.value
          }
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [
      template[0].template[0].containers[0].image,
      client,
      client_version,
    ]
  }

  depends_on = [google_project_service.required]
}

# --- the sharded job's own identity: read inputs and models, write predictions ------
# Separate from the service's account: the job never starts executions and the
# service never needs the job's limits; each can be audited on its own.

resource "google_service_account" "predict_job" {
  project      = var.project_id
  account_id   = "mlsys-predict-job-${var.environment}"
  display_name = "mlsys sharded prediction job (${var.environment})"
}

resource "google_storage_bucket_iam_member" "job_reads_models" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.predict_job.email}"
}

resource "google_bigquery_dataset_iam_member" "job_reads_registry" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.registry.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.predict_job.email}"
}

resource "google_bigquery_dataset_iam_member" "job_reads_inputs" {
  for_each = toset(var.prediction_input_datasets)

  project    = var.project_id
  dataset_id = each.value
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.predict_job.email}"
}

resource "google_bigquery_dataset_iam_member" "job_writes_ops" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.ops.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.predict_job.email}"
}

# The publish writes the output (and {output}__shadow) in the predictions dataset; staging
# and claim tables live in the ops dataset (above).
resource "google_bigquery_dataset_iam_member" "job_writes_predictions" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.predictions.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.predict_job.email}"
}

resource "google_project_iam_member" "job_bq" {
  for_each = toset([
    "roles/bigquery.jobUser",         # query jobs (the publish; staging uses the Write API)
    "roles/bigquery.readSessionUser", # Storage Read API sessions of the shards
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.predict_job.email}"
}

# The deploy workflow updates the job's image, which acts as the job's account.
resource "google_service_account_iam_member" "deployer_acts_as_predict_job" {
  service_account_id = google_service_account.predict_job.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.deployer.email}"
}
