"""The query side over the QueryEngine port: analyst views, `telcopulse sql`, the dashboard's launcher."""
