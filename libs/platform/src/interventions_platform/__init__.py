"""Shared runtime for Interventions services."""
