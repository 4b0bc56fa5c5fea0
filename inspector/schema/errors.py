"""The one error type the CLI turns into a one-line message and exit status 2."""


class UserError(Exception):
    """Bad input from the user (file, option, value): shown as one line, exit status 2."""
