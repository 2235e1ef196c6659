# Least-privilege identities. Nothing here grants a basic role (owner/editor)
# to a workload; bindings sit on the bucket, dataset, service or job they need.

# --- service accounts -----------------------------------------------------------

resource "google_service_account" "registry_function" {
  project      = var.project_id
  account_id   = "mlsys-registry-${var.environment}"
  display_name = "mlsys registry function (${var.environment})"
}

resource "google_service_account" "function_build" {
  project      = var.project_id
  account_id   = "mlsys-fn-build-${var.environment}"
  display_name = "mlsys registry function build (${var.environment})"
}

resource "google_service_account" "eventarc" {
  project      = var.project_id
  account_id   = "mlsys-eventarc-${var.environment}"
  display_name = "mlsys Eventarc triggers (${var.environment})"
}

resource "google_service_account" "predict" {
  project      = var.project_id
  account_id   = "mlsys-predict-${var.environment}"
  display_name = "mlsys prediction service and job (${var.environment})"
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "mlsys-scheduler-${var.environment}"
  display_name = "mlsys Cloud Scheduler caller (${var.environment})"
}

# --- registry function: read the bucket, append to the registry tables ---------------

resource "google_project_iam_custom_role" "registry_appender" {
  project     = var.project_id
  role_id     = "mlsysRegistryAppender_${var.environment}"
  title       = "mlsys registry appender (${var.environment})"
  description = "Read and append rows to the registry tables; no delete, no schema change."
  permissions = [
    "bigquery.datasets.get",
    "bigquery.tables.get",
    "bigquery.tables.getData",
    "bigquery.tables.updateData",
  ]
}

resource "google_storage_bucket_iam_member" "function_reads_models" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.registry_function.email}"
}

resource "google_bigquery_dataset_iam_member" "function_appends_registry" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.registry.dataset_id
  role       = google_project_iam_custom_role.registry_appender.id
  member     = "serviceAccount:${google_service_account.registry_function.email}"
}

# Load jobs and dedup queries run as jobs in this project.
resource "google_project_iam_member" "function_runs_bq_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.registry_function.email}"
}

# --- function build (Cloud Build with a dedicated account) -------------------------

resource "google_project_iam_member" "function_build" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.function_build.email}"
}

resource "google_storage_bucket_iam_member" "build_reads_function_source" {
  bucket = google_storage_bucket.function_source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function_build.email}"
}

# --- Eventarc: GCS publishes, the trigger account receives and invokes ------------

data "google_storage_project_service_account" "gcs_agent" {
  project = var.project_id
}

resource "google_project_iam_member" "gcs_agent_publishes_events" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs_agent.email_address}"
}

resource "google_project_iam_member" "eventarc_receives_events" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.eventarc.email}"
}

resource "google_cloud_run_v2_service_iam_member" "eventarc_invokes_function" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.registry.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.eventarc.email}"
}

# Pub/Sub moves undeliverable events to the dead-letter topic.
resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.registry_dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# --- prediction service and job ---------------------------------------------------

resource "google_storage_bucket_iam_member" "service_reads_models" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.predict.email}"
}

resource "google_bigquery_dataset_iam_member" "service_reads_registry" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.registry.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.predict.email}"
}

resource "google_bigquery_dataset_iam_member" "service_reads_inputs" {
  for_each = toset(var.prediction_input_datasets)

  project    = var.project_id
  dataset_id = each.value
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.predict.email}"
}

resource "google_bigquery_dataset_iam_member" "service_writes_ops" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.ops.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.predict.email}"
}

resource "google_bigquery_dataset_iam_member" "service_writes_predictions" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.predictions.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.predict.email}"
}

resource "google_project_iam_member" "service_bq" {
  for_each = toset([
    "roles/bigquery.jobUser",         # query and load jobs
    "roles/bigquery.readSessionUser", # Storage Read API for input tables
  ])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.predict.email}"
}

# The service starts sharded executions of the job (with per-run arguments).
resource "google_cloud_run_v2_job_iam_member" "service_runs_job" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.predict.name
  role     = "roles/run.jobsExecutorWithOverrides"
  member   = "serviceAccount:${google_service_account.predict.email}"
}

resource "google_cloud_run_v2_job_iam_member" "service_reads_job_executions" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.predict.name
  role     = "roles/run.viewer"
  member   = "serviceAccount:${google_service_account.predict.email}"
}

# --- who may call the prediction service (never the public) ----------------------

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_service" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.predict.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

# The deploy workflow's smoke test calls /health and /predict.
resource "google_cloud_run_v2_service_iam_member" "deployer_invokes_service" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.predict.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_cloud_run_v2_service_iam_member" "extra_invokers" {
  for_each = toset(var.service_invokers)

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.predict.name
  role     = "roles/run.invoker"
  member   = each.value
}

resource "google_artifact_registry_repository_iam_member" "readers" {
  for_each = toset(var.artifact_registry_readers)

  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = each.value
}
