"""Shared command-line plumbing: ``CONFIG [key.path=value ...] --out DIR`` and user-error handling."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from rayeaq.core.errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """Lets options and the positional overrides come in any order (``CONFIG --out D a.b=1``)."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        return self.parse_intermixed_args(args, namespace)


def base_parser(prog: str, description: str, config_required: bool = True) -> argparse.ArgumentParser:
    """Parser with the positional CONFIG, dotted overrides and ``--out``."""
    parser = _Parser(prog=prog, description=description)
    parser.add_argument("config", nargs=None if config_required else "?", help="run config YAML (see tune_configs/)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. env.map=2s3z seed=7")
    parser.add_argument("--out", default=None, help="output directory (default: under results/)")
    return parser


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> None:
    """Run ``main``; a :class:`UserError` prints one line and exits 2, Ctrl-C exits 130."""
    try:
        code = main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code or 0)
