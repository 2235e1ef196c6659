-- One current row per (model_name, model_version), derived from the append-only events table.
-- ${dataset} is the fully qualified `project.dataset`.
--  1. duplicate deliveries share an event_id: keep the first row of each;
--  2. only registered and deleted rows are state (rejected ones never, noncurrent ones are
--     history); a generation is gone once any of its rows is a delete;
--  3. versions are immutable: the model file of a version is its lowest live generation
--     (lowest generation first if every one is gone), so a later upload never replaces it,
--     whatever order the events arrived in; within a generation a delete outranks a metadata
--     update, which outranks a finalize;
--  4. metadata.json is its newest generation, joined when that one is not deleted;
--  5. duplicate_of flags a version whose bytes (sha256) equal a lower registered version of the
--     same model (the `duplicates` CTE; `mlsys.registry.state.flag_duplicates` in Python);
--  6. so is profile.json (the reference profile drift is measured against): its generation and
--     sha256, which the prediction job checks before using it.
WITH events AS (
  SELECT * EXCEPT (dup)
  FROM (
    SELECT e.*, ROW_NUMBER() OVER (PARTITION BY e.event_id ORDER BY e.registered_at) AS dup
    FROM `${dataset}.model_registry_events` AS e
  )
  WHERE dup = 1
),
state AS (
  SELECT
    e.*,
    MAX(CASE WHEN e.status = 'deleted' THEN 1 ELSE 0 END) OVER (
      PARTITION BY e.object_kind, e.model_name, e.model_version, e.object_name, COALESCE(e.generation, 0)
    ) AS gone
  FROM events AS e
  WHERE e.status IN ('registered', 'deleted') AND e.object_kind IS NOT NULL
),
ranked AS (
  SELECT
    s.*,
    ROW_NUMBER() OVER (
      PARTITION BY s.object_kind, s.model_name, s.model_version
      ORDER BY
        CASE WHEN s.object_kind = 'model' THEN s.gone ELSE 0 END ASC,
        CASE WHEN s.object_kind = 'model' THEN COALESCE(s.generation, 0) ELSE 0 END ASC,
        CASE WHEN s.object_kind = 'model' THEN COALESCE(s.object_name, '') ELSE '' END ASC,
        COALESCE(s.generation, 0) DESC,
        CASE WHEN s.status = 'deleted' THEN 2 WHEN s.event_type = 'metadataUpdated' THEN 1 ELSE 0 END DESC,
        COALESCE(s.metageneration, 0) DESC,
        s.registered_at DESC
    ) AS pos
  FROM state AS s
),
artifacts AS (
  SELECT * FROM ranked WHERE object_kind = 'model' AND pos = 1
),
meta AS (
  SELECT * FROM ranked WHERE object_kind = 'metadata' AND pos = 1 AND status = 'registered'
),
duplicates AS (
  SELECT
    a.model_name,
    a.model_version,
    CONCAT('v', CAST(MIN(o.model_version) AS STRING)) AS duplicate_of
  FROM artifacts AS a
  JOIN artifacts AS o
    ON o.model_name = a.model_name AND o.sha256 = a.sha256 AND o.model_version < a.model_version
  WHERE o.status = 'registered'
  GROUP BY a.model_name, a.model_version
),
profiles AS (
  SELECT * FROM ranked WHERE object_kind = 'profile' AND pos = 1 AND status = 'registered'
)
SELECT
  a.model_name,
  a.model_version,
  a.version_label,
  a.environment,
  a.gcs_bucket,
  a.object_name,
  a.artifact_uri,
  a.artifact_format,
  a.file_size_bytes,
  a.generation,
  a.md5_hash,
  a.crc32c,
  a.sha256,
  a.upload_timestamp,
  a.uploader,
  a.registered_at,
  a.status,
  a.event_type AS last_event_type,
  m.metadata,
  m.description,
  m.tags,
  m.metrics,
  m.features,
  m.metadata_error,
  m.generation AS metadata_generation,
  d.duplicate_of,
  p.generation AS profile_generation,
  p.sha256 AS profile_sha256
FROM artifacts AS a
LEFT JOIN meta AS m
  ON m.model_name = a.model_name AND m.model_version = a.model_version
LEFT JOIN duplicates AS d
  ON d.model_name = a.model_name AND d.model_version = a.model_version
LEFT JOIN profiles AS p
  ON p.model_name = a.model_name AND p.model_version = a.model_version
