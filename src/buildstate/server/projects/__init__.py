"""Projects and the state codes their builds report."""
