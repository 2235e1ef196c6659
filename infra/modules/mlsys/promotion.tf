# Promotion dev -> staging -> prod (mlsys promote, run by .github/workflows/promote-model.yml).
#
# Each target environment (staging, prod) has its own promoter account, which only the
# GitHub environment of the same name can impersonate (prod's has required reviewers). Its
# grants are "read on the source, write on the target":
#   - here, in the target: create objects in the models bucket (objectCreator: create, never
#     overwrite or delete, since replacing an object needs storage.objects.delete), read them
#     back to compare, append alias and audit rows to the registry, run query jobs;
#   - in the source environment, its root passes this account as downstream_promoter: read
#     the models bucket and the registry, run the read queries there (see the bindings below).
# Nobody else holds write on the staging and prod buckets (the deployer manages the bucket,
# not its objects), and the registry keeps the first generation of a version: an overwrite is
# rejected, never served.

locals {
  promotes_into = var.environment != "dev"
}

resource "google_service_account" "promoter" {
  count = local.promotes_into ? 1 : 0

  project      = var.project_id
  account_id   = "mlsys-promoter-${var.environment}"
  display_name = "mlsys promoter into ${var.environment}"
}

resource "google_service_account_iam_member" "promoter_wif" {
  count = local.promotes_into ? 1 : 0

  service_account_id = google_service_account.promoter[0].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/subject/repo:${var.github_repository}:environment:${var.environment}"
}

# --- write on the target -------------------------------------------------------------------

resource "google_storage_bucket_iam_member" "promoter_creates_models" {
  count = local.promotes_into ? 1 : 0

  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.promoter[0].email}"
}

resource "google_storage_bucket_iam_member" "promoter_reads_models" {
  count = local.promotes_into ? 1 : 0

  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.promoter[0].email}"
}

resource "google_bigquery_dataset_iam_member" "promoter_appends_registry" {
  count = local.promotes_into ? 1 : 0

  project    = var.project_id
  dataset_id = google_bigquery_dataset.registry.dataset_id
  role       = google_project_iam_custom_role.registry_appender.id
  member     = "serviceAccount:${google_service_account.promoter[0].email}"
}

resource "google_project_iam_member" "promoter_runs_bq_jobs" {
  count = local.promotes_into ? 1 : 0

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.promoter[0].email}"
}

# --- read on the source (this environment), for the next environment's promoter -------------

resource "google_storage_bucket_iam_member" "downstream_promoter_reads_models" {
  count = var.downstream_promoter == null ? 0 : 1

  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = var.downstream_promoter
}

resource "google_bigquery_dataset_iam_member" "downstream_promoter_reads_registry" {
  count = var.downstream_promoter == null ? 0 : 1

  project    = var.project_id
  dataset_id = google_bigquery_dataset.registry.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = var.downstream_promoter
}

# The registry of an environment is read by query jobs billed to that environment's project.
resource "google_project_iam_member" "downstream_promoter_runs_bq_jobs" {
  count = var.downstream_promoter == null ? 0 : 1

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = var.downstream_promoter
}
