"""The exporter's error for bad input."""


class ExportError(ValueError):
    """Bad export input; the message names the bad value and what is allowed."""
