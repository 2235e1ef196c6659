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

  # Bucket names are global across all of Google Cloud: the default carries the project id,
  # so two users (or two environments in one project) never collide.
  models_bucket_name = coalesce(var.models_bucket_name, "${var.project_id}-mlsys-models-${var.environment}")
  dataset_id         = "mlsys_${var.environment}"
  env_upper          = upper(var.environment)

  # Settings read by mlsys.settings (the only place that reads the environment): every name
  # the service, the function and the job use comes from here, none is a literal in the code.
  app_env = {
    GCP_PROJECT_ID                                    = var.project_id
    (format("GCP_PROJECT_ID_%s", local.env_upper))    = var.project_id
    (format("GCS_BUCKET_MODELS_%s", local.env_upper)) = local.models_bucket_name
    GCP_REGION                                        = var.region
    MLSYS_ENV                                         = var.environment
    MLSYS_DATASET_PREFIX                              = "mlsys"
    BQ_LOCATION                                       = var.region
    MLSYS_PREDICT_JOB                                 = local.job_name
  }
}

data "google_project" "this" {
  project_id = var.project_id
}
