-- The newest window of each operator, averages derived from the window's sums and counts.
CREATE OR REPLACE VIEW telcopulse_gold.v_operator_kpis_latest AS
SELECT
    operator,
    window_start,
    window_end,
    signal_count,
    CAST(signal_sum AS DOUBLE) / NULLIF(signal_count, 0) AS avg_signal,
    precision_count,
    CAST(precision_sum AS DOUBLE) / NULLIF(precision_count, 0) AS avg_gps_precision_m,
    updated_at
FROM (
    SELECT
        k.*,
        row_number() OVER (PARTITION BY k.operator ORDER BY k.window_start DESC) AS window_rank
    FROM telcopulse_gold.operator_kpis AS k
) AS ranked
WHERE window_rank = 1
