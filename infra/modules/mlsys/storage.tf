# Models bucket: data scientists upload {model}/v{N}/model.* here; every change
# fires the registry function.
resource "google_storage_bucket" "models" {
  # checkov:skip=CKV_GCP_62:Access is audited through Cloud Audit Logs (data access logs), not legacy bucket access logs.
  name     = local.models_bucket_name
  project  = var.project_id
  location = var.region
  labels   = local.labels

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection

  versioning {
    enabled = true
  }

  # Overwritten or deleted artifacts stay recoverable for a while (rollback),
  # then lifecycle cleans them up.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      num_newer_versions = var.noncurrent_versions_to_keep
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.required]
}

# Source archives of the registry function (Cloud Build reads them from here).
resource "google_storage_bucket" "function_source" {
  # checkov:skip=CKV_GCP_62:Only Terraform and Cloud Build touch this bucket; Cloud Audit Logs cover it.
  name     = "${var.project_id}-mlsys-fn-src-${var.environment}"
  project  = var.project_id
  location = var.region
  labels   = local.labels

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.required]
}
