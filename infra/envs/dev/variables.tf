variable "project_id" {
  type        = string
  description = "GCP project of this environment."
}

variable "region" {
  type        = string
  description = "Region of every regional resource of this environment."
  default     = "europe-west1"
}

variable "github_repository" {
  type        = string
  description = "GitHub repository (owner/name) allowed to deploy through Workload Identity Federation."
}

variable "schedules" {
  type = list(object({
    name         = string
    cron         = string
    model        = string
    version      = string
    input_table  = string
    output_table = string
  }))
  description = "Scheduled batch predictions (see the module's variable); empty by default."
  default     = []
}

variable "prediction_input_datasets" {
  type        = list(string)
  description = "Dataset ids the prediction service may read input tables from."
  default     = []
}

variable "artifact_registry_readers" {
  type        = list(string)
  description = "IAM members allowed to pull this environment's images (e.g. another environment's Cloud Run service agent)."
  default     = []
}

variable "initial_image" {
  type        = string
  description = "Image for the first creation of the Cloud Run service and job (the deploy workflow passes the digest it deploys); ignored afterwards."
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "models_bucket_name" {
  type        = string
  description = "Models bucket name; null: {project_id}-mlsys-models-{env} (bucket names are global)."
  default     = null
}


variable "next_project_id" {
  type        = string
  description = "Project of the staging environment, whose promoter copies versions out of this one (null or empty: this environment's project)."
  default     = null
}
