"""Where the stages are joined: a video (decode, detect, track, cover, encode), a photo, an animation."""
