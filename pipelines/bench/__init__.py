"""`telcopulse bench`: what TelcoPulse sustains on this machine, and where the time goes.

Benchmarks measure; tests never time anything. Every stage runs the real jobs on its own home and its own
loopback kinesalite; figures come from the jobs' own batch logs, snapshot commits and ``/proc``.
"""
