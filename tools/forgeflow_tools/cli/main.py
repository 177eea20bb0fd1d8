"""Entry point of the `forgeflow` command.

Each module of this package that defines `register(subparsers)` adds its own sub-command, so a new
command is one new module. Modules keep heavy imports (moto, boto3) inside their command functions:
`forgeflow --help` must stay instant.

Exit codes: 0 success, 1 the data/configuration is invalid or the run failed, 2 usage or I/O error,
3 (`local run`, `run`) the run trained but its forgetting gate failed: `Run Regressed`, not promoted.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence

from forgeflow import __version__
from forgeflow.errors import ForgeFlowError
from forgeflow_tools.cli.failures import silence_broken_pipe, translate
from forgeflow_tools.cli.output import Parser, UsageError, asks_for_json, error_document, wants_json

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="forgeflow",
        description="Validate, mix and fine-tune Amazon Nova models with data mixing.",
    )
    parser.add_argument("--version", action="version", version=f"forgeflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    package = importlib.import_module("forgeflow_tools.cli")
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.name == "main":
            continue
        module = importlib.import_module(f"forgeflow_tools.cli.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(arguments)
    except UsageError as error:
        return usage_error(error, json_wanted=asks_for_json(arguments))
    command: Command = args.func
    try:
        return command(args)
    except BrokenPipeError:
        silence_broken_pipe()
        return 2
    except ForgeFlowError as error:
        return report(args, error)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        translated = translate(error)
        if translated is None:
            raise
        return report(args, translated)


def usage_error(error: UsageError, *, json_wanted: bool) -> int:
    """argparse's complaint: its usage and message on stderr, or one JSON error on stdout; exit 2."""
    if json_wanted:
        sys.stdout.buffer.write(error_document("USAGE", f"{error.parser.prog}: {error.message}"))
        sys.stdout.flush()
    else:
        error.parser.print_usage(sys.stderr)
        print(f"{error.parser.prog}: error: {error.message}", file=sys.stderr)
    return 2


def report(args: argparse.Namespace, error: ForgeFlowError) -> int:
    """One line on stderr, or `{"error": {"code", "message"}}` on stdout under `--output json`."""
    if wants_json(args):
        sys.stdout.buffer.write(error_document(error.code, str(error)))
        sys.stdout.flush()
    else:
        print(f"forgeflow {args.command}: error [{error.code}]: {error}", file=sys.stderr)
    return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
