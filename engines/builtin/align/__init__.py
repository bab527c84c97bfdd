"""Similarity transforms between a face and the model templates; crops."""
