"""Analyses over the incident database; each returns a pandas DataFrame."""
