"""Silver: typed, normalized, deduplicated readings checked by the Great Expectations suite."""
