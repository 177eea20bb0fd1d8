"""The errors ForgeFlow raises on purpose: each says what is wrong, where, and how to fix it.

The CLI maps them to exit codes (1: the data or configuration is invalid, 2: usage or I/O), the Lambda
handlers to a failed pipeline stage with the error's `code`.
"""

from __future__ import annotations


class ForgeFlowError(Exception):
    """Base class: a message for people, a stable code for machines, an optional hint."""

    exit_code = 2
    default_code = "FORGEFLOW_ERROR"

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(ForgeFlowError):
    """A usage or I/O problem: a missing file, an unreadable URI, a malformed flag."""

    exit_code = 2
    default_code = "INPUT_ERROR"


class DataError(ForgeFlowError):
    """The data, plan, recipe or request is invalid: the user must change it."""

    exit_code = 1
    default_code = "INVALID_DATA"
