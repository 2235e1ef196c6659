terraform {
  # Kept compatible with Terraform 1.0 syntax: no optional() attributes, no
  # moved/check blocks, no pre/postconditions.
  required_version = ">= 1.0.3"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.8.0, < 7.0.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4.0, < 3.0.0"
    }
  }
}
