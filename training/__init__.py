"""Training slimmable networks: `python -m training.main --flagfile=training/flags/NAME.flags`."""
