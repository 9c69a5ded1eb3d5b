"""The gate: being written for issue 4."""
