"""HTTP API of the assessor (FastAPI), versioned under /api/v1."""
