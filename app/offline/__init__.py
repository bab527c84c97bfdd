"""Offline swaps: a job's sources and targets through the engine into tagged output files."""
