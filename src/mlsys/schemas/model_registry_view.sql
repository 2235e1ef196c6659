-- One current row per (model_name, model_version), derived from the append-only events table.
-- ${dataset} is the fully qualified `project.dataset`.
--  1. duplicate deliveries share an event_id: keep the first row of each;
--  2. the model artifact's state is its newest event by generation, and within a generation a
--     delete outranks a metadata update, which outranks a finalize (so out-of-order delivery
--     ends in the same state); rejected objects never become current;
--  3. metadata.json is joined the same way, when its newest event is not a delete;
--  4. so is profile.json (the reference profile drift is measured against): its generation and
--     sha256, which the prediction job checks before using it.
WITH events AS (
  SELECT * EXCEPT (dup)
  FROM (
    SELECT e.*, ROW_NUMBER() OVER (PARTITION BY e.event_id ORDER BY e.registered_at) AS dup
    FROM `${dataset}.model_registry_events` AS e
  )
  WHERE dup = 1
),
ranked AS (
  SELECT
    e.*,
    ROW_NUMBER() OVER (
      PARTITION BY e.object_kind, e.model_name, e.model_version
      ORDER BY
        e.generation DESC,
        CASE e.event_type WHEN 'deleted' THEN 2 WHEN 'metadataUpdated' THEN 1 ELSE 0 END DESC,
        e.metageneration DESC,
        e.registered_at DESC
    ) AS pos
  FROM events AS e
  WHERE e.status != 'rejected' AND e.object_kind IS NOT NULL
),
artifacts AS (
  SELECT * FROM ranked WHERE object_kind = 'model' AND pos = 1
),
meta AS (
  SELECT * FROM ranked WHERE object_kind = 'metadata' AND pos = 1 AND status = 'registered'
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
  p.generation AS profile_generation,
  p.sha256 AS profile_sha256
FROM artifacts AS a
LEFT JOIN meta AS m
  ON m.model_name = a.model_name AND m.model_version = a.model_version
LEFT JOIN profiles AS p
  ON p.model_name = a.model_name AND p.model_version = a.model_version
