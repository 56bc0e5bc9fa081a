-- Data-quality pass rate per hour and suite: (rows_in - rows_quarantined) / rows_in over the hour's batches.
-- Duplicates are redeliveries that dedup drops, not quality failures, so they count as passed here;
-- rows_valid / rows_in (duplicates counted against the rate) is kept as valid_share for comparison.
CREATE OR REPLACE VIEW telcopulse_silver.v_dq_pass_rate_hourly AS
SELECT
    date_trunc('hour', validated_at) AS hour,
    suite_name,
    count(*) AS batches,
    sum(rows_in) AS rows_in,
    sum(rows_valid) AS rows_valid,
    sum(rows_quarantined) AS rows_quarantined,
    sum(rows_duplicate) AS rows_duplicate,
    CAST(sum(rows_in) - sum(rows_quarantined) AS DOUBLE) / NULLIF(sum(rows_in), 0) AS pass_rate,
    CAST(sum(rows_valid) AS DOUBLE) / NULLIF(sum(rows_in), 0) AS valid_share,
    count(*) FILTER (WHERE NOT success) AS failed_batches
FROM telcopulse_silver.dq_results
GROUP BY date_trunc('hour', validated_at), suite_name
