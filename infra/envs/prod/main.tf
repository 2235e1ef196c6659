# prod: one call of the shared module; only the per-environment values differ.
terraform {
  required_version = ">= 1.0.3"

  # The state bucket is project-specific and passed at init:
  #   terraform init -backend-config="bucket=$TF_STATE_BUCKET"
  backend "gcs" {
    prefix = "mlsys/prod"
  }

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.8.0, < 7.0.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

module "mlsys" {
  source = "../../modules/mlsys"

  project_id        = var.project_id
  region            = var.region
  environment       = "prod"
  github_repository = var.github_repository
  schedules         = var.schedules

  deletion_protection    = true
  service_min_instances  = 1
  service_max_instances  = 20
  function_max_instances = 10

  prediction_input_datasets = var.prediction_input_datasets
  artifact_registry_readers = var.artifact_registry_readers
  initial_image             = var.initial_image
  models_bucket_name        = var.models_bucket_name
}
