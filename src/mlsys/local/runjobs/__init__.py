"""Cloud Run Jobs on the local stack: the Admin API v2 subset the google-cloud-run client uses
(``RunJob``, ``GetJob``, ``GetExecution``, ``ListExecutions``, ``CancelExecution``, operations),
with executions run as real local processes, as Cloud Run runs them.

- :mod:`.spec`: each environment's job as Terraform declares it (``infra/modules/mlsys/run.tf``);
- :mod:`.executions`: an execution's state on disk, and the runner process that runs its tasks;
- :mod:`.api`: the REST API, enforcing the same IAM policy as the emulator proxy.

Run: ``python -m mlsys.local.runjobs --port P --infra DIR --state DIR``.
"""
