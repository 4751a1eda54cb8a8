"""Audio: the voice disguise and the muted ranges, sample by sample, in blocks (never a whole track in memory)."""
