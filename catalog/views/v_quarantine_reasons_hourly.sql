-- Quarantined records per hour and reason (`column:rule`); a record with two reasons counts under both.
CREATE OR REPLACE VIEW telcopulse_silver.v_quarantine_reasons_hourly AS
SELECT
    date_trunc('hour', q.quarantined_at) AS hour,
    r.reason,
    count(*) AS records,
    count(*) FILTER (WHERE q.replayed_at IS NOT NULL) AS replayed
FROM telcopulse_silver.quarantine AS q
CROSS JOIN UNNEST(q.reasons) AS r (reason)
GROUP BY date_trunc('hour', q.quarantined_at), r.reason
