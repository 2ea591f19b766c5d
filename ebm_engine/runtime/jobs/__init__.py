"""Concrete jobs, one per lab page."""
