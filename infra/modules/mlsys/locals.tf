locals {
  env = var.environment

  # Repository root seen from this module: the function source and the BigQuery
  # schemas are read from the same tree that the Python code uses.
  repo_root   = "${path.module}/../../.."
  schemas_dir = "${local.repo_root}/src/mlsys/schemas"

  labels = merge(var.labels, {
    app         = "mlsys"
    environment = var.environment
  })

  models_bucket_name = "mlsys-models-${var.environment}"
  dataset_id         = "mlsys_${var.environment}"

  # Settings read by mlsys.settings (the only place that reads the environment).
  app_env = {
    GCP_PROJECT_ID            = var.project_id
    GCP_REGION                = var.region
    MLSYS_ENV                 = var.environment
    MLSYS_DATASET             = local.dataset_id
    MLSYS_DATASET_PREFIX      = "mlsys"
    BQ_LOCATION               = var.region
    GCS_BUCKET_MODELS_DEV     = "mlsys-models-dev"
    GCS_BUCKET_MODELS_STAGING = "mlsys-models-staging"
    GCS_BUCKET_MODELS_PROD    = "mlsys-models-prod"
  }
}

data "google_project" "this" {
  project_id = var.project_id
}
