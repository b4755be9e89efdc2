"""`python -m edge` is the `porchlight-edge` command."""

from edge.cli import main

raise SystemExit(main())
