"""What every command shares about output: the `--output text|json` switch, JSON on stdout, counted nouns.

One machine-readable switch across commands (`--output json`; older spellings such as `--json` stay as
aliases of it). Under it stdout holds exactly one JSON document, errors included
(`{"error": {"code", "message"}}`), and usage errors found by argparse too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import orjson

OUTPUT_CHOICES = ("text", "json")


def add_output_argument(
    parser: argparse.ArgumentParser, *, alias: str | None = None, what: str = "", dest: str = "output"
) -> None:
    """`--output text|json` (default text); `alias` (e.g. `--json`) is kept as a synonym of json.

    `dest` differs from `output` only where a positional is already called that (convert's OUT).
    """
    shown = f" ({what})" if what else ""
    parser.add_argument(
        "--output",
        dest=dest,
        choices=OUTPUT_CHOICES,
        default="text",
        help=f"text (default) or json{shown} on stdout; errors too are JSON then",
    )
    if alias is not None:
        parser.add_argument(
            alias, dest=dest, action="store_const", const="json", help="same as --output json"
        )
    parser.set_defaults(output_dest=dest)


def wants_json(args: argparse.Namespace) -> bool:
    """`--output json` (or its alias) was given: errors too are JSON, on stdout."""
    return getattr(args, getattr(args, "output_dest", "output"), None) == "json"


def emit_json(document: Any) -> None:
    """One JSON document on stdout (indented; datetimes and paths as strings)."""
    sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str) + b"\n")
    sys.stdout.flush()


def error_document(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}}) + b"\n"


def asks_for_json(argv: Sequence[str]) -> bool:
    """Whether a command line asks for JSON, read before (or without) a successful parse."""
    for index, item in enumerate(argv):
        if item == "--":
            return False
        if item in ("--json", "--output=json") or (
            item == "--output" and argv[index + 1 : index + 2] == ["json"]
        ):
            return True
    return False


class UsageError(Exception):
    """argparse found the command line unusable; `parser` is the (sub)command whose usage applies."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors reach `main`, which prints them as text or as JSON."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)
