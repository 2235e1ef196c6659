output "models_bucket" {
  description = "Name of the models bucket."
  value       = module.mlsys.models_bucket
}

output "registry_dataset" {
  description = "BigQuery dataset of the model registry."
  value       = module.mlsys.registry_dataset
}

output "registry_function" {
  description = "Name of the registry Cloud Function."
  value       = module.mlsys.registry_function
}

output "registry_triggers" {
  description = "Eventarc triggers feeding the registry function."
  value       = module.mlsys.registry_triggers
}

output "registry_dead_letter_topic" {
  description = "Dead-letter topic of the registry triggers."
  value       = module.mlsys.registry_dead_letter_topic
}

output "service_name" {
  description = "Cloud Run service of the prediction API."
  value       = module.mlsys.service_name
}

output "service_uri" {
  description = "URL of the prediction API."
  value       = module.mlsys.service_uri
}

output "job_name" {
  description = "Cloud Run job for sharded predictions."
  value       = module.mlsys.job_name
}

output "artifact_registry_repository" {
  description = "Docker repository URL."
  value       = module.mlsys.artifact_registry_repository
}

output "workload_identity_provider" {
  description = "WIF provider name for google-github-actions/auth."
  value       = module.mlsys.workload_identity_provider
}

output "deployer_service_account" {
  description = "Service account of the deploy workflows."
  value       = module.mlsys.deployer_service_account
}

output "planner_service_account" {
  description = "Read-only service account of terraform plan."
  value       = module.mlsys.planner_service_account
}

output "promoter_service_account" {
  description = "Service account promote-model.yml impersonates to promote into this environment (null for dev)."
  value       = module.mlsys.promoter_service_account
}
