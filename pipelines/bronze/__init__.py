"""Bronze: raw Kinesis records, byte for byte, exactly once."""
