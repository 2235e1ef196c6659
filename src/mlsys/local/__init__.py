"""The whole stack on one machine: GCS and BigQuery emulators, the registry function, an
Eventarc-like bridge and the prediction service. See :mod:`mlsys.local.stack`."""
