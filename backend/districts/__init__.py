"""Business improvement districts and their coordinators."""
