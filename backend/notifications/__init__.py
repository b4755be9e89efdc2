"""Notifications: the in-app list (the record) and Web Push to the owner's devices (the hint)."""
