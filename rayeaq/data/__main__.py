"""``python -m rayeaq.data import-vault|export-vault``: OG-MARL (flashbax) vaults <-> our datasets.

  python -m rayeaq.data import-vault VAULT_DIR --map 3m --tier medium --out DIR [--uid Medium]
  python -m rayeaq.data export-vault DATASET_DIR --out VAULTS_DIR [--name 3m.vlt] [--uid Medium]

Errors (missing vault, unknown layout, flashbax not installed) print one line and exit 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rayeaq.cli import run_cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rayeaq.data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import-vault", help="an OG-MARL vault -> a dataset (backend sc2)")
    imp.add_argument("vault", help="vault directory (e.g. vaults/smac_v1/3m.vlt) or one uid directory in it")
    imp.add_argument("--map", required=True, help="SMAC map the vault was recorded on, e.g. 3m")
    imp.add_argument("--tier", required=True, help="quality tier (good/medium/poor); also picks the uid by name")
    imp.add_argument("--out", required=True, help="dataset directory to write")
    imp.add_argument("--uid", default=None, help="vault uid (default: the one named like --tier, or the only one)")
    imp.add_argument("--episode-limit", type=int, default=None, help="default: SMAC's limit for the map")
    imp.add_argument(
        "--win-return",
        type=float,
        default=None,
        help="return from which a terminated episode counts as won when the vault has no win flag "
        "(default 19.0 on SMAC's 0-20 scale)",
    )
    exp = sub.add_parser("export-vault", help="a dataset -> an OG-MARL vault")
    exp.add_argument("dataset", help="dataset directory (with card.json)")
    exp.add_argument("--out", required=True, help="vaults directory (the vault goes to OUT/NAME/UID)")
    exp.add_argument("--name", default=None, help="vault name (default: <map>.vlt)")
    exp.add_argument("--uid", default=None, help="vault uid (default: the tier, capitalised, as OG-MARL names them)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from rayeaq.data import vault

    if args.command == "import-vault":
        extra = {} if args.win_return is None else {"win_return": args.win_return}
        card = vault.import_vault(
            args.vault, args.map, args.tier, args.out, uid=args.uid, episode_limit=args.episode_limit, **extra
        )
        s = card.stats
        print(
            f"imported {s.episodes} episodes, {s.transitions} transitions (mean return {s.mean_return:.3f}, "
            f"win rate {s.win_rate:.3f}) -> {args.out} (fingerprint {card.fingerprint})"
        )
    else:
        target = vault.export_vault(args.dataset, args.out, args.name, args.uid)
        print(f"exported {args.dataset} -> {target}")
    return 0


if __name__ == "__main__":
    run_cli(main)
