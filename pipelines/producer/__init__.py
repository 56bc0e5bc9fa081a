"""Producers of contract-v1 records: CSV replay and a simulated fleet."""
