"""Owners' sites and cameras."""
