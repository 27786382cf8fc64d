"""One builder for every command: ``python -m rayeaq.<stage> CONFIG [key.path=value ...] --out DIR``.

A :class:`Command` says what is particular to a stage (its extra arguments, its default output directory,
what it records in ``run.json``, whether it needs Ray, the work itself and its one-line summary); the
builder does the rest the same way for every stage: the process environment, parsing, loading and
validating the config, the run info, the Ray session, the summary line and the exit codes. A
:class:`~rayeaq.core.errors.UserError` anywhere prints one line and exits 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rayeaq.core.errors import UserError

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def prepare_process() -> None:
    """Process-wide settings every command needs before JAX or Ray is imported (never done at import time):
    JAX on CPU unless ``JAX_PLATFORMS`` says otherwise, and one Ray auth mode for every local Ray process."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")


RESUME_HINT = "rerun the same command to resume"
"""What Ctrl-C tells the user by default (commands that resume on a plain rerun)."""


class _Parser(argparse.ArgumentParser):
    """Lets options and the positional overrides come in any order (``CONFIG --out D a.b=1``)."""

    def parse_args(self, args=None, namespace=None):
        return self.parse_intermixed_args(args, namespace)


def base_parser(prog: str, description: str, config_required: bool = True) -> argparse.ArgumentParser:
    """Parser with the positional CONFIG, dotted overrides and ``--out``."""
    parser = _Parser(prog=prog, description=description)
    parser.add_argument("config", nargs=None if config_required else "?", help="run config YAML (see tune_configs/)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. env.map=2s3z seed=7")
    parser.add_argument("--out", default=None, help="output directory (default: under results/)")
    return parser


@dataclass(frozen=True)
class Command:
    """What is particular to one command; :meth:`main` is the command.

    ``execute(cfg, args, out)`` does the stage's work and returns its summary (a dict, whose ``exit_code`` is the
    command's, 0 if absent); ``summary(result, out)`` is the last line printed (none when empty). ``run_info(cfg, args)`` is what ``run.json`` records besides the config, the code
    version and the seed (None: the stage writes its own run info). ``uses_ray(cfg)`` opens the Ray session
    around ``execute``. ``early(args)`` may answer before a config is loaded (e.g. ``--list-maps``): it returns
    an exit code, or None to go on.
    """

    prog: str
    description: str
    stage: str
    execute: Callable[[Any, argparse.Namespace, Path], dict[str, Any]]
    summary: Callable[[dict[str, Any], Path], str]
    default_out: Callable[[Any], Path]
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    run_info: Callable[[Any, argparse.Namespace], dict[str, Any]] | None = lambda cfg, args: {}
    uses_ray: Callable[[Any], bool] = lambda cfg: True
    early: Callable[[argparse.Namespace], int | None] = lambda args: None
    config_required: bool = True
    extra_help: dict[str, str] = field(default_factory=dict)
    on_interrupt: str = RESUME_HINT
    """What Ctrl-C prints after ``interrupted;`` (commands with a ``--resume`` flag say so)."""

    def parser(self) -> argparse.ArgumentParser:
        parser = base_parser(self.prog, self.description, self.config_required)
        self.arguments(parser)
        return parser

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Parse ``argv``, run the stage, print its summary line; returns the exit code."""
        prepare_process()
        parser = self.parser()
        args = parser.parse_args(argv)
        code = self.early(args)
        if code is not None:
            return code
        if args.config is None:
            parser.error("CONFIG is required (see tune_configs/)")
        from rayeaq.run_config import load_run_config

        cfg = load_run_config(args.config, args.overrides)
        out = Path(args.out) if args.out else self.default_out(cfg)
        if self.run_info is not None:
            from rayeaq.core.runinfo import write_run_info

            write_run_info(out, cfg, self.stage, self.run_info(cfg, args))
        if self.uses_ray(cfg):
            from rayeaq.core.ray_session import ray_session

            with ray_session(cfg.ray):
                result = self.execute(cfg, args, out)
        else:
            result = self.execute(cfg, args, out)
        line = self.summary(result, out)
        if line:
            print(line, flush=True)
        return int(result.get("exit_code", EXIT_OK))

    def run(self) -> None:
        """``if __name__ == "__main__": COMMAND.run()``."""
        run_cli(self.main, sys.argv[1:], self.on_interrupt)


def run_cli(
    main: Callable[[Sequence[str] | None], int],
    argv: Sequence[str] | None = None,
    on_interrupt: str = RESUME_HINT,
) -> None:
    """Run ``main``; a :class:`UserError` or a full/read-only disk prints one line and exits 2, Ctrl-C exits 130."""
    try:
        code = main(argv)
    except UserError as err:
        cause = getattr(err, "cause", None)  # raised in a Ray task or actor: Ray's wrapper adds its traceback
        print(f"error: {cause if isinstance(cause, UserError) else err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except OSError as err:  # a full or read-only disk wherever it is met: one line too (rayeaq.core.output)
        from rayeaq.core.output import is_disk_error, output_error

        if not is_disk_error(err):
            raise
        print(f"error: {output_error(None, err)}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print(f"interrupted; {on_interrupt}", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code or 0)
