"""Gold: exact KPIs per event-time window (sums and counts merged idempotently) and outage detection."""
