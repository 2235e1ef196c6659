output "models_bucket" {
  description = "Name of the models bucket ({project_id}-mlsys-models-{env} unless models_bucket_name is set)."
  value       = google_storage_bucket.models.name
}

output "registry_dataset" {
  description = "BigQuery dataset of the model registry."
  value       = google_bigquery_dataset.registry.dataset_id
}

output "predictions_dataset" {
  description = "BigQuery dataset the prediction service may write to."
  value       = google_bigquery_dataset.predictions.dataset_id
}

output "registry_function" {
  description = "Name of the registry Cloud Function (gen2)."
  value       = google_cloudfunctions2_function.registry.name
}

output "registry_triggers" {
  description = "Eventarc triggers feeding the registry function; the deploy workflow attaches the dead-letter topic to their subscriptions."
  value = concat(
    [google_cloudfunctions2_function.registry.event_trigger[0].trigger],
    [for t in google_eventarc_trigger.registry : t.id],
  )
}

output "registry_dead_letter_topic" {
  description = "Pub/Sub topic receiving registry events that failed every delivery attempt."
  value       = google_pubsub_topic.registry_dead_letter.id
}

output "service_name" {
  description = "Cloud Run service of the prediction API."
  value       = google_cloud_run_v2_service.predict.name
}

output "service_uri" {
  description = "HTTPS URL of the prediction API (IAM-protected)."
  value       = google_cloud_run_v2_service.predict.uri
}

output "job_name" {
  description = "Cloud Run job running sharded predictions."
  value       = google_cloud_run_v2_job.predict.name
}

output "artifact_registry_repository" {
  description = "Docker repository URL, e.g. for docker push {url}/mlsys:{sha}."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "workload_identity_provider" {
  description = "Full name of the WIF provider for google-github-actions/auth (workload_identity_provider)."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "deployer_service_account" {
  description = "Service account the deploy workflows impersonate (main branch only)."
  value       = google_service_account.deployer.email
}

output "planner_service_account" {
  description = "Read-only service account for terraform plan on pull requests."
  value       = google_service_account.planner.email
}

output "predict_service_account" {
  description = "Service account of the prediction service and job; grant it dataViewer on input datasets elsewhere."
  value       = google_service_account.predict.email
}

output "promoter_service_account" {
  description = "Service account promote-model.yml impersonates to promote into this environment (null for dev)."
  value       = local.promotes_into ? google_service_account.promoter[0].email : null
}
