"""The TelcoPulse dashboard: Streamlit layout in app.py, every query in queries.py."""
