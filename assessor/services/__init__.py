"""Use cases of the assessor, between the HTTP layers and data access."""
