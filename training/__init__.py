"""Training slimmable networks: `python -m training.main --flagfile=NAME` (a shipped flagfile or a path)."""
