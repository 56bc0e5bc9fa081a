"""Operations: health (`status`), table maintenance (`maintain`) and recomputation (`rebuild`)."""
