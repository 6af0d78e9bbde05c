"""The API's routes, one APIRouter module per topic, included by assessor.api.app."""
