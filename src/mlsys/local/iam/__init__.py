"""Least privilege on the local stack: the IAM policy ``infra/`` grants, per identity."""

from mlsys.local.iam.policy import Binding, Check, Policy, derive_policy

__all__ = ["Binding", "Check", "Policy", "derive_policy"]
