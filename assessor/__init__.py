"""Assessor: ISO 22400 KPIs, smart-factory level and before/after gains (FastAPI)."""
