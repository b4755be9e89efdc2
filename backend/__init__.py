"""Porchlight: the camera owner's companion for community camera programs."""
