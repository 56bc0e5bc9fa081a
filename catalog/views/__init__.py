"""Analyst views over gold and silver: Athena (Trino) SQL, one ``CREATE OR REPLACE VIEW`` per file."""
