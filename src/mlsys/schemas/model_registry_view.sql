-- Placeholder (written with the infra issue): one current row per model and version, the
-- latest event of each. ${dataset} is the fully qualified `project.dataset`.
SELECT * EXCEPT (row_num)
FROM (
  SELECT
    e.*,
    ROW_NUMBER() OVER (
      PARTITION BY e.model_name, e.model_version
      ORDER BY e.registered_at DESC, e.event_time DESC
    ) AS row_num
  FROM `${dataset}.model_registry_events` AS e
  WHERE e.model_name IS NOT NULL AND e.model_version IS NOT NULL
)
WHERE row_num = 1
