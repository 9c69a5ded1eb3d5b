"""The gate's pure decision: being written for issue 4."""
