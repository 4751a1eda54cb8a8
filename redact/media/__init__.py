"""Video input and output through PyAV (FFmpeg's libraries; no external binary)."""
