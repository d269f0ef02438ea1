"""The exception tree. A user error prints one clean line and exits 2; anything else is a bug."""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


class EvalgateError(Exception):
    """Base class of errors a user can fix; `str(err)` is the one line shown."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(EvalgateError):
    """params.yaml, a task file or a command-line option is invalid."""


class InputError(EvalgateError):
    """An input file (dataset, golden set, model) is missing or unreadable."""


class ServiceError(EvalgateError):
    """A hosted service refused or kept failing (a bad key, an unknown model, retries used up).
    Exit 3: the input may be fine; nothing graded so far is lost."""

    exit_code = EXIT_INTERNAL


class ValidationFailed(EvalgateError):
    """One or more records are invalid; `problems` holds one `file:line: reason` each."""

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line user errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
