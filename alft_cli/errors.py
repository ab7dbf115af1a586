"""The one exception type whose message is shown to users as a single line (no traceback)."""


class UserError(Exception):
    """Bad input from the user: a missing file, an unknown option, a malformed dataset row."""
