"""Table definitions, the record contract, reference data and Athena views: one source for local and AWS."""
