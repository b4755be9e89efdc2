"""`python -m backend ...` is the `porchlight` command (used where the console script is not installed)."""

from backend.cli import main

main(prog_name="porchlight")
