-- Outages still going on (no outage_end yet), with how long each has been open.
CREATE OR REPLACE VIEW telcopulse_gold.v_postal_outages_open AS
SELECT
    postal_code,
    outage_start,
    date_diff('second', outage_start, current_timestamp) AS open_seconds,
    readings,
    bad_readings,
    CAST(bad_readings AS DOUBLE) / NULLIF(readings, 0) AS bad_share,
    devices_affected,
    worst_bad_share,
    updated_at
FROM telcopulse_gold.postal_outages
WHERE outage_end IS NULL
