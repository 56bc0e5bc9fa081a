-- KPIs per hour and operator. Sums and counts are carried so that any range of hours re-aggregates
-- exactly: sum(signal_sum) / sum(signal_count), never an average of the hourly averages.
CREATE OR REPLACE VIEW telcopulse_gold.v_operator_kpis_hourly AS
SELECT
    date_trunc('hour', window_start) AS hour,
    operator,
    count(*) AS windows,
    sum(signal_sum) AS signal_sum,
    sum(signal_count) AS signal_count,
    CAST(sum(signal_sum) AS DOUBLE) / NULLIF(sum(signal_count), 0) AS avg_signal,
    sum(precision_sum) AS precision_sum,
    sum(precision_count) AS precision_count,
    CAST(sum(precision_sum) AS DOUBLE) / NULLIF(sum(precision_count), 0) AS avg_gps_precision_m,
    max(updated_at) AS updated_at
FROM telcopulse_gold.operator_kpis
GROUP BY date_trunc('hour', window_start), operator
