"""`swapcast benchmark`: our engine against the reference path, on the same frames and models."""
