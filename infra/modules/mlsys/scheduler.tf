# Scheduled batch predictions. Declared in schedules.yaml at the repository root
# (validated by mlsys.schedules in CI, listed by `mlsys schedules list`): every
# entry whose envs include this environment, plus var.schedules, becomes one
# Cloud Scheduler job that calls the service's POST /predict with an OIDC token
# of the dedicated scheduler service account (the only extra invoker, iam.tf);
# the service checks the request and starts a Cloud Run Job execution.
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

  # var.schedules entries run as one-task job executions.
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
    # The typed request of mlsys.predict (mlsys.schedules builds the same one): always a Cloud
    # Run Job execution, answered 202 at once, whose job id the service derives from
    # `schedule` and the X-CloudScheduler-ScheduleTime header: a retried or doubled fire
    # writes once. {env} in a table id is this environment.
    body = base64encode(jsonencode({
      env           = var.environment
      model_name    = each.value.model
      model_version = each.value.version
      input_table   = replace(each.value.input_table, "{env}", var.environment)
      output_table  = replace(each.value.output_table, "{env}", var.environment)
      engine        = "job"
      tasks         = each.value.tasks
      schedule      = each.key
    }))

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloud_run_v2_service.predict.uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_service]
}
