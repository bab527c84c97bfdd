"""Finding faces in a frame (SCRFD), choosing which to swap, smoothing them over time."""
