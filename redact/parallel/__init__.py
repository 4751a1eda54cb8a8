"""Running more than one thing at once: executors, folders in batch, one video in segments."""
