"""Google's predefined roles, as permissions, for every role ``infra/`` grants.

Only the permissions of the services the local stack emulates are listed (``storage.*``,
``bigquery.*``, ``run.*``): nothing local checks the others (logging, Pub/Sub, IAM, Artifact
Registry, ...), so those roles are present with the part that matters here, often nothing.
A ``service.resource.*`` entry stands for every permission under it, as in Google's own role
listings (``roles/bigquery.admin`` holds ``bigquery.tables.*``).

Source: Google Cloud's IAM roles reference (cloud.google.com/iam/docs/roles-permissions/
bigquery, /storage, /run), restricted as above. A test checks that every role infra/ grants
is in this table, so a new grant cannot silently mean "no permission".
"""

from __future__ import annotations

import fnmatch

_OBJECT_VIEWER = frozenset(
    {
        "storage.objects.get",
        "storage.objects.list",
        "storage.folders.get",
        "storage.folders.list",
        "storage.managedFolders.get",
        "storage.managedFolders.list",
    }
)
_OBJECT_CREATOR = frozenset(
    {
        "storage.objects.create",
        "storage.folders.create",
        "storage.managedFolders.create",
        "storage.multipartUploads.create",
        "storage.multipartUploads.abort",
        "storage.multipartUploads.listParts",
    }
)
_METADATA_VIEWER = frozenset(
    {
        "bigquery.datasets.get",
        "bigquery.datasets.getIamPolicy",
        "bigquery.models.getMetadata",
        "bigquery.models.list",
        "bigquery.routines.get",
        "bigquery.routines.list",
        "bigquery.tables.get",
        "bigquery.tables.getIamPolicy",
        "bigquery.tables.list",
    }
)
_DATA_VIEWER = _METADATA_VIEWER | {
    "bigquery.models.export",
    "bigquery.models.getData",
    "bigquery.tables.createSnapshot",
    "bigquery.tables.export",
    "bigquery.tables.getData",
    "bigquery.tables.replicateData",
}
_DATA_EDITOR = _DATA_VIEWER | {
    "bigquery.datasets.create",
    "bigquery.datasets.updateTag",
    "bigquery.models.create",
    "bigquery.models.delete",
    "bigquery.models.updateData",
    "bigquery.models.updateMetadata",
    "bigquery.models.updateTag",
    "bigquery.routines.create",
    "bigquery.routines.delete",
    "bigquery.routines.update",
    "bigquery.routines.updateTag",
    "bigquery.tables.create",
    "bigquery.tables.createIndex",
    "bigquery.tables.delete",
    "bigquery.tables.deleteIndex",
    "bigquery.tables.restoreSnapshot",
    "bigquery.tables.update",
    "bigquery.tables.updateData",
    "bigquery.tables.updateTag",
}
_RUN_VIEWER = frozenset(
    {
        "run.configurations.get",
        "run.configurations.list",
        "run.executions.get",
        "run.executions.list",
        "run.jobs.get",
        "run.jobs.getIamPolicy",
        "run.jobs.list",
        "run.locations.list",
        "run.operations.get",
        "run.operations.list",
        "run.revisions.get",
        "run.revisions.list",
        "run.routes.get",
        "run.routes.list",
        "run.services.get",
        "run.services.getIamPolicy",
        "run.services.list",
        "run.tasks.get",
        "run.tasks.list",
    }
)

#: role -> permissions (of the emulated services; see the module docstring).
PREDEFINED_ROLES: dict[str, frozenset[str]] = {
    # Cloud Storage
    "roles/storage.objectViewer": _OBJECT_VIEWER,
    "roles/storage.objectCreator": _OBJECT_CREATOR,
    "roles/storage.objectUser": _OBJECT_VIEWER
    | _OBJECT_CREATOR
    | {
        "storage.objects.delete",
        "storage.objects.update",
        "storage.objects.restore",
        "storage.folders.delete",
        "storage.folders.rename",
        "storage.managedFolders.delete",
        "storage.multipartUploads.list",
    },
    "roles/storage.objectAdmin": frozenset(
        {"storage.objects.*", "storage.folders.*", "storage.managedFolders.*"}
    )
    | {"storage.multipartUploads.*"},
    "roles/storage.bucketViewer": frozenset({"storage.buckets.get", "storage.buckets.list"}),
    "roles/storage.admin": frozenset({"storage.*"}),
    # BigQuery
    "roles/bigquery.metadataViewer": _METADATA_VIEWER,
    "roles/bigquery.dataViewer": _DATA_VIEWER,
    "roles/bigquery.dataEditor": _DATA_EDITOR,
    "roles/bigquery.dataOwner": _DATA_EDITOR
    | {
        "bigquery.datasets.delete",
        "bigquery.datasets.setIamPolicy",
        "bigquery.datasets.update",
        "bigquery.tables.setIamPolicy",
        "bigquery.rowAccessPolicies.*",
    },
    "roles/bigquery.jobUser": frozenset({"bigquery.jobs.create", "bigquery.config.get"}),
    "roles/bigquery.user": frozenset(
        {
            "bigquery.jobs.create",
            "bigquery.jobs.list",
            "bigquery.config.get",
            "bigquery.datasets.create",
            "bigquery.datasets.get",
            "bigquery.models.list",
            "bigquery.routines.list",
            "bigquery.readsessions.create",
            "bigquery.readsessions.getData",
            "bigquery.readsessions.update",
            "bigquery.savedqueries.get",
            "bigquery.savedqueries.list",
        }
    ),
    "roles/bigquery.readSessionUser": frozenset(
        {
            "bigquery.readsessions.create",
            "bigquery.readsessions.getData",
            "bigquery.readsessions.update",
        }
    ),
    "roles/bigquery.admin": frozenset({"bigquery.*"}),
    # Cloud Run
    "roles/run.viewer": _RUN_VIEWER,
    "roles/run.invoker": frozenset({"run.jobs.run", "run.routes.invoke"}),
    "roles/run.jobsExecutor": frozenset({"run.jobs.run", "run.executions.cancel"}),
    "roles/run.jobsExecutorWithOverrides": frozenset(
        {"run.jobs.run", "run.jobs.runWithOverrides", "run.executions.cancel"}
    ),
    "roles/run.developer": _RUN_VIEWER
    | {
        "run.executions.cancel",
        "run.executions.delete",
        "run.jobs.create",
        "run.jobs.delete",
        "run.jobs.run",
        "run.jobs.runWithOverrides",
        "run.jobs.update",
        "run.services.create",
        "run.services.delete",
        "run.services.update",
        "run.revisions.delete",
        "run.operations.delete",
    },
    "roles/run.admin": frozenset({"run.*"}),
    # Roles infra/ grants whose permissions belong to services the stack does not emulate.
    "roles/artifactregistry.admin": frozenset(),
    "roles/artifactregistry.reader": frozenset(),
    "roles/artifactregistry.writer": frozenset(),
    "roles/browser": frozenset(),
    "roles/cloudfunctions.admin": frozenset(),
    "roles/cloudfunctions.viewer": frozenset(),
    "roles/cloudscheduler.admin": frozenset(),
    "roles/cloudscheduler.viewer": frozenset(),
    "roles/eventarc.admin": frozenset(),
    "roles/eventarc.eventReceiver": frozenset(),
    "roles/eventarc.viewer": frozenset(),
    "roles/iam.roleAdmin": frozenset(),
    "roles/iam.roleViewer": frozenset(),
    "roles/iam.securityReviewer": frozenset(
        {"bigquery.datasets.getIamPolicy", "bigquery.tables.getIamPolicy"}
    )
    | {"run.jobs.getIamPolicy", "run.services.getIamPolicy", "storage.buckets.getIamPolicy"},
    "roles/iam.serviceAccountAdmin": frozenset(),
    "roles/iam.serviceAccountUser": frozenset(),
    "roles/iam.serviceAccountViewer": frozenset(),
    "roles/iam.workloadIdentityPoolAdmin": frozenset(),
    "roles/iam.workloadIdentityPoolViewer": frozenset(),
    "roles/iam.workloadIdentityUser": frozenset(),
    "roles/logging.logWriter": frozenset(),
    "roles/pubsub.admin": frozenset(),
    "roles/pubsub.publisher": frozenset(),
    "roles/pubsub.viewer": frozenset(),
    "roles/resourcemanager.projectIamAdmin": frozenset(),
    "roles/serviceusage.serviceUsageAdmin": frozenset(),
    "roles/serviceusage.serviceUsageViewer": frozenset(),
}


def grants(permissions: frozenset[str], permission: str) -> bool:
    """Whether a set of permissions (``service.resource.*`` wildcards allowed) holds one."""
    if permission in permissions:
        return True
    return any("*" in p and fnmatch.fnmatchcase(permission, p) for p in permissions)
