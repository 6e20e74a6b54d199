"""The one base of errors a user can fix, caught at the edges (the CLI, the pages).

An importer's bad file, a database that cannot be opened, a search that is not valid syntax, a write
the user's role does not allow, a judge asked for without a model: each is a ``UserError`` subclass
and ends as one sentence. Any other exception is a bug and shows as one (a traceback), instead of
hiding behind a "bad input" message because it happened to be a ValueError.
"""


class UserError(Exception):
    """Something the user can fix; the message says what and where."""
