"""One error base for everything a user can do wrong; the CLI and pages print its message."""

from __future__ import annotations


class AnnotatorError(Exception):
    """A user-facing error: its message is one clear line saying what is wrong and what to do."""


class InvalidInput(AnnotatorError):
    """Bad input that is not tied to one row (a missing column, an unknown format...)."""


class InvalidRow(AnnotatorError):
    """One bad row of an input file."""

    def __init__(self, file: str, row: int | None, field: str | None, reason: str):
        self.file, self.row, self.field, self.reason = file, row, field, reason
        where = file
        if row is not None:
            where += f", row {row}"
        if field:
            where += f", field '{field}'"
        super().__init__(f"{where}: {reason}")


class RowErrors(AnnotatorError):
    """Several bad rows; nothing was written. The message names the first and the count."""

    def __init__(self, file: str, problems: list[tuple[int, str | None, str]]):
        self.file, self.problems = file, problems
        row, field, reason = problems[0]
        first = InvalidRow(file, row, field, reason)
        more = f" (and {len(problems) - 1} more bad rows)" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}; nothing was imported. Fix the file and import it again.")


class NotFound(AnnotatorError):
    """A named thing (round, account, run, codebook version) does not exist."""


class NotAllowed(AnnotatorError):
    """The signed-in account's role may not do this."""


class Conflict(AnnotatorError):
    """The action conflicts with stored state (closed round, existing name...)."""


class PendingThreads(Conflict):
    """Sampled threads still await a decision, so a figure that needs the whole sample is refused.

    ``rounds`` lists (round name, pending, sampled) so a page can say the same in its own words."""

    def __init__(self, message: str, rounds: list[tuple[str, int, int]]):
        self.rounds = rounds
        super().__init__(message)


class EndpointError(AnnotatorError):
    """The model endpoint could not be reached or answered with an error (connection, timeout, HTTP status)."""

    def __init__(self, endpoint: str, what: str, reason: str, hint: str = ""):
        self.endpoint, self.what, self.reason, self.hint = endpoint, what, reason, hint
        super().__init__(f"{endpoint}: {what} failed: {reason}" + (f"; {hint}" if hint else ""))

    def with_hint(self, hint: str) -> EndpointError:
        return EndpointError(self.endpoint, self.what, self.reason, hint)
