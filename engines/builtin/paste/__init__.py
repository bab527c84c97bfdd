"""Putting a swapped crop back into the frame, inside the face region only."""
