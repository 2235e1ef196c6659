"""Watching models in production: reference profiles of the training data, drift per
prediction job, shadow scoring of a challenger. See ``docs/monitoring.md``.

- :mod:`mlsys.monitoring.profile`: mergeable histograms over fixed bins;
- :mod:`mlsys.monitoring.reference`: the reference profile of a version (``profile.json``);
- :mod:`mlsys.monitoring.profiler`: the streaming profiler a job observes its rows with;
- :mod:`mlsys.monitoring.drift`: PSI, Jensen-Shannon distance and statuses;
- :mod:`mlsys.monitoring.config`: ``monitoring.yaml``;
- :mod:`mlsys.monitoring.shadow`: a challenger scoring the same rows;
- :mod:`mlsys.monitoring.job`: the hook of the prediction pipeline;
- :mod:`mlsys.monitoring.store`: the ``prediction_drift`` and ``prediction_shadow`` tables.
"""
