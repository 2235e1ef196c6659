"""The output columns mlsys owns (no heavy imports: the request model checks against them)."""

from __future__ import annotations

PREDICTION = "prediction"
PROBABILITY = "probability"
PROVENANCE = ("prediction_timestamp", "model_name", "model_version", "job_id")
#: Names the output owns; an input column with one of these names is not copied through.
RESERVED = (PREDICTION, PROBABILITY, *PROVENANCE)
