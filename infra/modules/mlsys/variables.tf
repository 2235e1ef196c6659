variable "project_id" {
  type        = string
  description = "GCP project that hosts this environment."
}

variable "region" {
  type        = string
  description = "Region for the bucket, dataset, function, Cloud Run and Artifact Registry. Eventarc needs the bucket and the trigger in the same region."
}

variable "environment" {
  type        = string
  description = "Environment name; appears in every resource name (mlsys-models-{env}, mlsys_{env}, ...)."

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "The environment must be one of dev, staging, prod."
  }
}

variable "models_bucket_name" {
  type        = string
  description = "Name of the models bucket. Bucket names are global across Google Cloud, so the default (null) is {project_id}-mlsys-models-{environment}."
  default     = null

  validation {
    condition     = var.models_bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.models_bucket_name))
    error_message = "The models_bucket_name must be a valid bucket name (3-63 lowercase letters, digits, dots, hyphens, underscores)."
  }
}

variable "downstream_promoter" {
  type        = string
  description = "IAM member of the next environment's promoter (staging's for dev, prod's for staging), e.g. serviceAccount:mlsys-promoter-staging@PROJECT.iam.gserviceaccount.com. It may read this environment's models bucket and registry, and run the queries that read them here. null: nobody promotes from this environment."
  default     = null
}

variable "github_repository" {
  type        = string
  description = "GitHub repository (owner/name) whose workflows may authenticate through Workload Identity Federation."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "The github_repository must look like owner/name."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the models bucket contents (no force_destroy), the datasets contents and the Cloud Run service/job from terraform destroy. Registry tables are protected in every environment regardless."
}

variable "service_min_instances" {
  type        = number
  description = "Minimum Cloud Run instances of the prediction service (0 scales to zero; prod keeps one warm)."
}

variable "service_max_instances" {
  type        = number
  description = "Maximum Cloud Run instances of the prediction service; caps BigQuery and cost fan-out."
  default     = 10
}

variable "service_cpu" {
  type        = string
  description = "vCPUs per prediction service instance. Batch scoring is CPU-bound (scikit-learn, pyarrow), hence 2 by default."
  default     = "2"
}

variable "service_memory" {
  type        = string
  description = "Memory per prediction service instance: holds a model plus a few Arrow record batches, hence 4Gi by default."
  default     = "4Gi"
}

variable "service_concurrency" {
  type        = number
  description = "Concurrent requests per instance. Each /predict call streams a whole table, so a few per instance keeps memory bounded."
  default     = 4
}

variable "service_timeout_seconds" {
  type        = number
  description = "Request timeout of the prediction service in seconds (Cloud Run allows up to 3600); large tables go to the job instead."
  default     = 3600
}

variable "job_cpu" {
  type        = string
  description = "vCPUs per task of the sharded prediction job."
  default     = "2"
}

variable "job_memory" {
  type        = string
  description = "Memory per task of the sharded prediction job."
  default     = "4Gi"
}

variable "job_task_count" {
  type        = number
  description = "Default number of shards (tasks) of the prediction job; callers may override it per execution."
  default     = 4
}

variable "job_parallelism" {
  type        = number
  description = "How many shards of the prediction job run at once."
  default     = 4
}

variable "job_task_timeout_seconds" {
  type        = number
  description = "Timeout of one prediction job task in seconds."
  default     = 3600
}

variable "function_max_instances" {
  type        = number
  description = "Maximum instances of the registry Cloud Function; registration is light, a few suffice."
  default     = 5
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days a noncurrent (overwritten or deleted) model object is kept before lifecycle deletes it."
  default     = 30
}

variable "noncurrent_versions_to_keep" {
  type        = number
  description = "Noncurrent generations kept per model object; older ones are deleted by lifecycle."
  default     = 3
}

variable "prediction_input_datasets" {
  type        = list(string)
  description = "BigQuery dataset ids (in this project) the prediction service may read input tables from."
  default     = []
}

variable "service_invokers" {
  type        = list(string)
  description = "Extra IAM members (e.g. group:ml-platform@example.com) allowed to call the prediction service. Public members are rejected."
  default     = []

  validation {
    condition     = length(setintersection(var.service_invokers, ["allUsers", "allAuthenticatedUsers"])) == 0
    error_message = "The prediction service must never be public: allUsers and allAuthenticatedUsers are not allowed."
  }
}

variable "artifact_registry_readers" {
  type        = list(string)
  description = "IAM members allowed to pull images from this environment's Artifact Registry repository (e.g. the staging/prod Cloud Run service agents when images are promoted from dev). Public members are rejected."
  default     = []

  validation {
    condition     = length(setintersection(var.artifact_registry_readers, ["allUsers", "allAuthenticatedUsers"])) == 0
    error_message = "The Artifact Registry repository must never be public."
  }
}

variable "initial_image" {
  type        = string
  description = "Image used when the Cloud Run service and job are first created. Deployments replace it (gcloud run deploy) and Terraform ignores the change."
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
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
  description = "Extra scheduled batch predictions, added to the entries of schedules.yaml (repo root) for this environment: Cloud Scheduler calls POST /predict with an OIDC token. version is a version number or an alias name. Tables are dataset.table or project.dataset.table."
  default     = []
}

variable "schedule_time_zone" {
  type        = string
  description = "Time zone of the cron expressions in var.schedules."
  default     = "Etc/UTC"
}

variable "labels" {
  type        = map(string)
  description = "Extra labels added to every labelled resource."
  default     = {}
}
