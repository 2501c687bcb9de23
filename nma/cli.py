"""Command line: `nma check`, `nma run`, `nma verify`. Errors exit non-zero with an actionable message."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import NMAError


def _cmd_check(args) -> int:
    from .check import check_paths

    lines, caught = check_paths(args.paths)
    print("\n\n".join(lines))
    if caught:
        print(f"\n{len(caught)} warning(s):")
        for w in caught:
            print(f"  - {w}")
    print("\nOK: evidence is valid.")
    return 0


def _cmd_run(args) -> int:
    from .run import run_config

    result = run_config(args.config, out=args.out, engine=args.engine)
    print(result.message)
    for note in result.warnings:
        print(f"warning: {note}")
    return 0


def _cmd_verify(args) -> int:
    from .run import verify_outputs

    ok, message = verify_outputs(args.outdir)
    print(message)
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nma", description="Bayesian network meta-analysis for HTA.")
    parser.add_argument("--version", action="version", version=f"nma {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="validate evidence and print the network of each setting x outcome")
    p.add_argument("paths", nargs="*", help="data folder(s), evidence CSV(s) or contrast CSV(s) (default: data)")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("run", help="fit one analysis config and write its outputs")
    p.add_argument("config", help="analysis config (TOML)")
    p.add_argument("--out", default=None, help="output folder (default: outputs/<config stem>)")
    p.add_argument("--engine", choices=["mcmc", "exact"], default=None, help="override [model] engine")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("verify", help="say whether an output folder is current with its data, config and package")
    p.add_argument("outdir")
    p.set_defaults(func=_cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except NMAError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no outputs were changed", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
