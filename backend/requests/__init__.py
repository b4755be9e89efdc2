"""Footage requests: investigators ask owners near an incident; owners answer; clips arrive with custody."""
