"""Demo feed for `make demo`."""
