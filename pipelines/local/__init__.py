"""The embedded local stack: kinesalite on loopback, job locks and pid files under TELCOPULSE_HOME."""
