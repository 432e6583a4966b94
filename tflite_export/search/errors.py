"""The search's one error type."""


class SearchError(ValueError):
    """Bad search input or an unreachable target; the message says what is wrong and what to do."""
