"""The ``diff9d`` command: one entry point, one subcommand family per stage.

Each family lives in a ``commands`` module beside the code it drives and exposes
``register(subparsers)``, which adds its parser(s) and sets ``func`` to a handler taking the
parsed ``argparse.Namespace`` and returning an exit code. Command modules import their heavy
dependencies (torch, open3d) inside the handlers so that ``diff9d --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence

from diff9d_ros import __version__
from diff9d_ros.threads import DEFAULT_THREADS, apply_threads

# Families in the order ``diff9d --help`` lists them; a module missing here is a bug, not optional.
COMMAND_MODULES: tuple[str, ...] = (
    "diff9d_ros.pose.commands",
    "diff9d_ros.trajectory.commands",
    "diff9d_ros.synth.commands",
    "diff9d_ros.grasp.commands",
    "diff9d_ros.run_commands",
    "diff9d_ros.manual",
)


LOG = logging.getLogger(__name__)


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` shows each option's default, unless its help already names one or it has none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        empty = default is None or default is False or default == "" or default == argparse.SUPPRESS
        if "default" in text or empty or not action.option_strings:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {shown})"


def leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parsers of every runnable subcommand below ``parser`` (each once)."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield parser
        return
    for group in groups:
        for child in dict.fromkeys(group.choices.values()):
            yield from leaf_parsers(child)


def _add_threads(parser: argparse.ArgumentParser) -> None:
    if any("--threads" in action.option_strings for action in parser._actions):
        return  # the command chose its own default (e.g. training)
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help="CPU threads of torch, OpenMP and BLAS; 0 = the free cores (docs/threads.md)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="diff9d",
        description="Diff9D pose, grasp planning and GeoTDM forecasting for RGB-D tabletop scenes.",
    )
    parser.add_argument("--version", action="version", version=f"diff9d_ros {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    for leaf in leaf_parsers(parser):
        if leaf is not parser:
            leaf.formatter_class = DefaultsHelpFormatter
            _add_threads(leaf)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        threads = apply_threads(args.threads)
    except ValueError as error:
        parser.error(str(error))
    LOG.debug("CPU threads: %d", threads)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
