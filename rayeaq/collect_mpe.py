"""``python -m rayeaq.collect_mpe CONFIG ...``: an alias of ``python -m rayeaq.collect`` (which collects the
OMAR/D4RL tiers of ``collect.mpe`` when ``env.backend`` is mpe), kept for earlier command lines."""

from __future__ import annotations

from rayeaq.collect import COMMAND, main

__all__ = ["main"]

if __name__ == "__main__":
    COMMAND.run()
