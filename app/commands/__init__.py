"""The `plateau` commands, one module per family; `app/cli.py` parses the command line and calls them."""
