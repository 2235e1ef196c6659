"""Load a Terraform folder with python-hcl2: the loader the local stack uses for its IAM policy
and its Cloud Run Jobs (:mod:`mlsys.local.terraform`), so the tests read infra/ exactly as the
stack does."""

from mlsys.local.terraform import Config, load, strings

__all__ = ["Config", "load", "strings"]
