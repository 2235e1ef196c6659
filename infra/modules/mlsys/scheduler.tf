# Scheduled batch predictions. Declared in schedules.yaml at the repository root
# (validated by mlsys.schedules in CI, listed by `mlsys schedules list`): every
# entry whose envs include this environment, plus var.schedules, becomes one
# Cloud Scheduler job that calls the service's POST /predict with an OIDC token
# of the dedicated scheduler service account (the only extra invoker, iam.tf).
locals {
  schedules_file = yamldecode(file("${local.repo_root}/schedules.yaml"))

  declared_schedules = [
    for s in local.schedules_file.schedules : {
      name         = s.name
      cron         = s.cron
      model        = s.model
      version      = tostring(s.version)
      input_table  = s.input_table
      output_table = s.output_table
      tasks        = try(s.tasks, 1)
    } if contains(s.envs, var.environment)
  ]

  # var.schedules entries run on the service (one task).
  schedules = concat(local.declared_schedules, [for s in var.schedules : merge(s, { tasks = 1 })])
}

resource "google_cloud_scheduler_job" "predict" {
  for_each = { for s in local.schedules : s.name => s }

  project          = var.project_id
  region           = var.region
  name             = "mlsys-${var.environment}-${each.key}"
  description      = "Batch prediction ${each.value.model}@${each.value.version}: ${each.value.input_table} -> ${each.value.output_table}"
  schedule         = each.value.cron
  time_zone        = var.schedule_time_zone
  attempt_deadline = "1800s"

  retry_config {
    retry_count          = 1
    min_backoff_duration = "60s"
  }

  http_target {
    uri         = "${google_cloud_run_v2_service.predict.uri}/predict"
    http_method = "POST"
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode(jsonencode({
      env           = var.environment
      model_name    = each.value.model
      model_version = each.value.version
      input_table   = each.value.input_table
      output_table  = each.value.output_table
      # More than one task: a sharded execution of the env's Cloud Run Job.
      engine      = each.value.tasks > 1 ? "cloud-run-job" : "service"
      parallelism = each.value.tasks
      # 202 at once, the job runs in the background: a slow table never exceeds the
      # attempt deadline, so Cloud Scheduler does not retry (and duplicate) a run.
      async = true
    }))

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloud_run_v2_service.predict.uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_service]
}
