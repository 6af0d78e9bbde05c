"""APIRouter modules of the HTTP API, one per topic."""
