# Registry dataset: append-only event tables plus the model_registry view.
# Schemas and the view SQL are the ones the Python code uses (src/mlsys/schemas).
# Tables are deletion-protected in every environment: the registry is the
# source of truth for what was deployed, dev included.
resource "google_bigquery_dataset" "registry" {
  # checkov:skip=CKV_GCP_81:Google-managed encryption; CMEK would add a KMS key ring per environment for registry metadata that holds no personal data.
  project     = var.project_id
  dataset_id  = local.dataset_id
  location    = var.region
  description = "mlsys model registry (${var.environment}): append-only events and the current-version view."
  labels      = local.labels

  delete_contents_on_destroy = !var.deletion_protection

  depends_on = [google_project_service.required]
}

resource "google_bigquery_table" "model_registry_events" {
  # checkov:skip=CKV_GCP_80:Google-managed encryption, see the dataset.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.registry.dataset_id
  table_id            = "model_registry_events"
  description         = "One row per model artifact event (registered, rejected, deleted, metadata updated)."
  labels              = local.labels
  deletion_protection = true
  schema              = file("${local.schemas_dir}/model_registry_events.json")

  time_partitioning {
    type  = "DAY"
    field = "registered_at"
  }

  clustering = ["model_name"]
}

resource "google_bigquery_table" "registry_audit" {
  # checkov:skip=CKV_GCP_80:Google-managed encryption, see the dataset.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.registry.dataset_id
  table_id            = "registry_audit"
  description         = "Append-only audit trail of registry actions (promotions, alias moves, rejections)."
  labels              = local.labels
  deletion_protection = true
  schema              = file("${local.schemas_dir}/registry_audit.json")
}

resource "google_bigquery_table" "model_aliases" {
  # checkov:skip=CKV_GCP_80:Google-managed encryption, see the dataset.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.registry.dataset_id
  table_id            = "model_aliases"
  description         = "Append-only history of alias assignments (e.g. champion -> v3); the latest row per alias wins."
  labels              = local.labels
  deletion_protection = true
  schema              = file("${local.schemas_dir}/model_aliases.json")
}

resource "google_bigquery_table" "model_registry" {
  # checkov:skip=CKV_GCP_80:A view stores no data to encrypt.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.registry.dataset_id
  table_id            = "model_registry"
  description         = "One current row per model and version, derived from model_registry_events."
  labels              = local.labels
  deletion_protection = true

  view {
    # ${dataset} in the SQL is the fully qualified `project.dataset`.
    query = templatefile("${local.schemas_dir}/model_registry_view.sql", {
      dataset = "${var.project_id}.${google_bigquery_dataset.registry.dataset_id}"
    })
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.model_registry_events]
}

# Job bookkeeping (prediction_jobs status rows, prediction_shards plans): the service and
# the job append here, while they may only read the registry dataset. The code creates the
# tables on first use.
resource "google_bigquery_dataset" "ops" {
  # checkov:skip=CKV_GCP_81:Google-managed encryption; job status rows hold table names and counts, no personal data.
  project     = var.project_id
  dataset_id  = "mlsys_ops_${var.environment}"
  location    = var.region
  description = "mlsys prediction job status and shard plans (${var.environment})."
  labels      = local.labels

  delete_contents_on_destroy = !var.deletion_protection

  depends_on = [google_project_service.required]
}

# Where batch predictions land by default; the service may write tables here.
resource "google_bigquery_dataset" "predictions" {
  # checkov:skip=CKV_GCP_81:Google-managed encryption; enable CMEK per project if prediction outputs are sensitive.
  project     = var.project_id
  dataset_id  = "mlsys_predictions_${var.environment}"
  location    = var.region
  description = "Batch prediction outputs written by the mlsys service and job (${var.environment})."
  labels      = local.labels

  delete_contents_on_destroy = !var.deletion_protection

  depends_on = [google_project_service.required]
}
