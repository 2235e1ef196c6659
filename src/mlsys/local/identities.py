"""The identities of the local stack and their bearer tokens.

On Google Cloud every component runs as its own service account (``infra/``): the registry
function, the prediction service, the sharded prediction job and the promoter. The local stack
gives each the same identity through a bearer token that its enforcing proxy maps back to that
account and its Terraform grants (:mod:`mlsys.local.iam`). A request without a token is a
person's own credentials (a notebook, the seed's code): the project owner.

A token names an identity and the environment whose account it acts as:
``mlsys-local:service@prod`` is ``mlsys-predict-prod``. One local process serves every
environment, so it holds one token per environment (as one Cloud Run instance per environment
would hold one account each); the promoter acts for its target environment only.
"""

from __future__ import annotations

import re

IDENTITIES = ("service", "function", "job", "promoter")
TOKEN_PREFIX = "mlsys-local:"  # noqa: S105 - names an identity, grants nothing by itself
_TOKEN_RE = re.compile(r"^mlsys-local:(service|function|job|promoter)@(dev|staging|prod)$")


def token_for(identity: str, env: str) -> str:
    """The bearer token of ``identity`` acting as ``env``'s account.

    ``identity`` may carry its own environment (``promoter@staging``): that one wins.
    """
    name, _, fixed = identity.partition("@")
    token = f"{TOKEN_PREFIX}{name}@{fixed or env}"
    if not _TOKEN_RE.match(token):
        raise ValueError(
            f"unknown local identity {identity!r}: expected one of {', '.join(IDENTITIES)}, "
            "optionally with @dev, @staging or @prod"
        )
    return token


def parse_token(token: str) -> tuple[str, str] | None:
    """``(identity, env)`` of a local token, or None when it is not one."""
    match = _TOKEN_RE.match(token.strip())
    return (match.group(1), match.group(2)) if match else None
