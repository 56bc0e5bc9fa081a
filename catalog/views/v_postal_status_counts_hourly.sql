-- Readings per hour, postal code and network status (sum the counts over any range of hours).
CREATE OR REPLACE VIEW telcopulse_gold.v_postal_status_counts_hourly AS
SELECT
    date_trunc('hour', window_start) AS hour,
    postal_code,
    status,
    status_name,
    sum(event_count) AS event_count
FROM telcopulse_gold.postal_status_counts
GROUP BY date_trunc('hour', window_start), postal_code, status, status_name
