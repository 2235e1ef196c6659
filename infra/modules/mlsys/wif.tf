# Workload Identity Federation: GitHub Actions of var.github_repository get
# short-lived tokens; no service-account keys exist anywhere.
locals {
  # What `terraform apply` in the deploy workflow needs. Broad on purpose (it
  # manages IAM and service accounts) but no basic role, and only workflows
  # running on the main branch can use it.
  deployer_roles = [
    "roles/artifactregistry.admin",
    "roles/bigquery.admin",
    "roles/cloudfunctions.admin",
    "roles/cloudscheduler.admin",
    "roles/eventarc.admin",
    "roles/iam.roleAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.workloadIdentityPoolAdmin",
    "roles/pubsub.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
  ]

  # Read-only for `terraform plan` on pull requests.
  # Predefined viewer roles per service instead of the basic roles/viewer.
  planner_roles = [
    "roles/artifactregistry.reader",
    "roles/bigquery.metadataViewer",
    "roles/browser",
    "roles/cloudfunctions.viewer",
    "roles/cloudscheduler.viewer",
    "roles/eventarc.viewer",
    "roles/iam.roleViewer",
    "roles/iam.securityReviewer",
    "roles/iam.serviceAccountViewer",
    "roles/iam.workloadIdentityPoolViewer",
    "roles/pubsub.viewer",
    "roles/run.viewer",
    "roles/serviceusage.serviceUsageViewer",
    "roles/storage.bucketViewer",
  ]

  # Service accounts the deployer attaches to functions, services, jobs and schedules.
  runtime_service_accounts = {
    registry_function = google_service_account.registry_function.name
    function_build    = google_service_account.function_build.name
    eventarc          = google_service_account.eventarc.name
    predict           = google_service_account.predict.name
    scheduler         = google_service_account.scheduler.name
  }

  wif_principal_set = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}"
}

resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = "mlsys-github-${var.environment}"
  display_name              = "mlsys GitHub (${var.environment})"
  description               = "GitHub Actions of ${var.github_repository}."

  depends_on = [google_project_service.required]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  # checkov:skip=CKV_GCP_125:The condition pins assertion.sub to repo:<github_repository>:{main, pull_request, environment:*}; checkov cannot render var.github_repository (no default) and fails the check; the same condition with a literal repository passes it.
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub Actions OIDC"

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
    "attribute.repo_ref"   = "assertion.repository + '@' + assertion.ref"
  }

  # Only this repository, and only its main branch, its pull requests and its
  # GitHub environments (jobs with `environment:` get an environment subject).
  attribute_condition = "assertion.sub == 'repo:${var.github_repository}:ref:refs/heads/main' || assertion.sub == 'repo:${var.github_repository}:pull_request' || assertion.sub.startsWith('repo:${var.github_repository}:environment:')"

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  project      = var.project_id
  account_id   = "mlsys-deployer-${var.environment}"
  display_name = "mlsys GitHub deployer (${var.environment})"
}

resource "google_service_account" "planner" {
  project      = var.project_id
  account_id   = "mlsys-planner-${var.environment}"
  display_name = "mlsys GitHub terraform plan, read-only (${var.environment})"
}

resource "google_service_account_iam_member" "deployer_wif" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "${local.wif_principal_set}/attribute.repo_ref/${var.github_repository}@refs/heads/main"
}

resource "google_service_account_iam_member" "planner_wif" {
  service_account_id = google_service_account.planner.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "${local.wif_principal_set}/attribute.repository/${var.github_repository}"
}

resource "google_project_iam_member" "deployer" {
  # checkov:skip=CKV_GCP_49:terraform apply creates and updates this module's service accounts; only main-branch workflows can impersonate the deployer.
  for_each = toset(local.deployer_roles)

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

resource "google_project_iam_member" "planner" {
  for_each = toset(local.planner_roles)

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.planner.email}"
}

# actAs only on the runtime accounts, not project-wide serviceAccountUser.
resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each = local.runtime_service_accounts

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.deployer.email}"
}
