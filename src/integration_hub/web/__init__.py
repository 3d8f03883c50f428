"""HTTP: the ingest edge (raw ASGI) and the admin API (FastAPI)."""
