"""User-facing errors.

A `FerError` is a mistake the user can fix (a missing folder, a bad name, a malformed CSV).
Its message names the bad input and the fix; the command-line entry points print it without a
traceback. Anything else is a bug and keeps its traceback.
"""


class FerError(Exception):
    """A problem with the user's input, data or settings, with a message saying how to fix it."""


def unknown_name_error(kind: str, name: object, valid: "list[str] | tuple[str, ...]", kinds: str | None = None) -> FerError:
    """The error for an unknown model, profile, protocol or dataset name (`kinds`: the plural, where it is not
    `kind` + "s")."""
    return FerError(f"unknown {kind} {name!r}; valid {kinds or kind + 's'} are: {', '.join(sorted(valid))}")
