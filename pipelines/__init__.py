"""Governed data pipeline framework for commerce data."""
