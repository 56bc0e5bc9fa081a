"""Adapters behind the ports, chosen by ``Settings.runtime`` in one place (``pipelines.adapters.registry``)."""
