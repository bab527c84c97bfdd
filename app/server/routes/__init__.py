"""One module per group of endpoints; each has `router`."""
