"""TelcoPulse: a real-time telecom network-metrics lakehouse (bronze -> silver -> gold)."""
