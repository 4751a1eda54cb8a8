"""Following faces and plates between frames: the tracker, camera motion, scene cuts."""
