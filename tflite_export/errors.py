"""The errors of tflite_export's tools for bad input: each message names the bad value and
what is allowed, and the commands print it as their one `error:` line (exit code 2)."""


class ExportError(ValueError):
    """Bad export input; the message names the bad value and what is allowed."""


class ManifestError(ValueError):
    """An export its manifest cannot vouch for; the message names the export and the problem."""


class SearchError(ValueError):
    """Bad search input or an unreachable target; the message says what is wrong and what to do."""
