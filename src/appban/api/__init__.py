"""The HTTP API (FastAPI): being written for issue 4."""
