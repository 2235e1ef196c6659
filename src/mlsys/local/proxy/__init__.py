"""The local stack's enforcing proxy: the emulators answer only what Terraform grants.

One asyncio process in front of fake-gcs-server (REST), bqemulator (REST) and bqemulator's
Storage Read/Write APIs (gRPC). The identity is the bearer token's (:mod:`mlsys.local.identities`);
no token is the project owner. Run: ``python -m mlsys.local.proxy --help``.
"""
