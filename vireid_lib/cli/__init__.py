"""The ``vireid`` command line. Argparse lives in this package only (:mod:`~vireid_lib.cli.parser` declares
the arguments, :mod:`~vireid_lib.cli.commands` holds each subcommand's body); every command calls a library
function.
"""

from __future__ import annotations

import sys

from vireid_lib.cli.parser import build_parser
from vireid_lib.locks import FolderInUseError

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vireid`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FolderInUseError) as e:
        print(f"vireid {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        # training raises TrainingInterrupted (a KeyboardInterrupt) whose message says where it stopped
        print(f"vireid {args.command}: {e or 'interrupted'}", file=sys.stderr)
        return 130


def _one_line(e: BaseException) -> str:
    """The message of an error; for one re-raised from a DataLoader worker (``Caught ValueError in DataLoader
    worker process 0. Original Traceback ...``), only the original error's own message."""
    text = str(e)
    if "Original Traceback" not in text:
        return text
    last = [line for line in text.splitlines() if line.strip()][-1]
    return last.split(": ", 1)[1] if last.startswith(f"{type(e).__name__}: ") else last
