"""One error base for everything a user can do wrong; the CLI and pages print its message."""

from __future__ import annotations


class AnnotatorError(Exception):
    """A user-facing error: its message is one clear line saying what is wrong and what to do.

    ``str(error)`` is the wording for people in the web app: it never names a command-line option.
    ``option`` names the input the error is about (the CLI option without dashes, e.g. ``per_thread``);
    the CLI prints :meth:`cli_message`, which prefixes the option (``--per-thread: ...``) or uses an
    explicit command-line wording (``cli=``), and a page may prefix its own label for that input.
    """

    def __init__(self, *args: object, option: str | None = None, cli: str | None = None):
        super().__init__(*args)
        self.option = option
        self.cli = cli

    def cli_message(self) -> str:
        """The message as the command line says it: with the option it is about."""
        if self.cli:
            return self.cli
        if self.option:
            return f"--{self.option.replace('_', '-')}: {self}"
        return str(self)

    def page_message(self, labels: dict[str, str] | None = None) -> str:
        """The message as a page says it: prefixed by the page's label of the input, when it has one."""
        label = (labels or {}).get(self.option or "")
        return f"{label}: {self}" if label else str(self)


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
