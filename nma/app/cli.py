"""Command line: `nma init`, `nma check`, `nma run`, `nma manifest`, `nma verify`. Errors exit non-zero with an actionable message."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nma.constants import __version__
from nma.analysis import interrupt
from nma.errors import ConfigError, NMAError

#: Exit code of every NMAError (bad data, config, path, failed convergence); signals exit 128 + signum.
ERROR_EXIT = 2


def _cmd_check(args) -> int:
    from nma.app.describe import check_paths

    lines, caught = check_paths(args.paths)
    print("\n\n".join(lines))
    if caught:
        print(f"\n{len(caught)} warning(s):")
        for w in caught:
            print(f"  - {w}")
    print("\nOK: evidence is valid.")
    return 0


def refuse_table_as_config(path: str) -> None:
    """`nma run data.csv`: say it is a table, not a config, instead of a TOML syntax error (nothing is written)."""
    p = Path(path)
    if not p.is_file():
        return
    head = p.read_bytes()[:4096].decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()
    first = next((line.strip() for line in head if line.strip()), "")
    looks_tabular = "," in first and "=" not in first and not first.startswith(("[", "#"))
    if p.suffix.lower() in (".csv", ".tsv", ".xlsx", ".xls") or looks_tabular:
        raise ConfigError(f"{path} is a CSV file (a table of trial results), not an analysis config (TOML). Fix: write "
                          f"a config for it with `nma init {path}`, then `nma run` that .toml file")


def _cmd_run(args) -> int:
    from nma.analysis.outpath import check_output_dir

    from nma.app.picos import has_picos

    configs = list(args.config)
    if len(configs) > 1 or has_picos(configs[0]):
        return _run_many(args, configs)
    config = configs[0]
    refuse_table_as_config(config)
    out = args.out if args.out is not None else str(Path("outputs") / Path(config).stem)
    check_output_dir(out, config=config, allow_outside=args.allow_outside)
    from nma.app.run import run_config

    result = run_config(config, out=out, engine=args.engine)
    print(result.message)
    from nma.errors import rank_warnings

    for w in rank_warnings(result.warnings):   # each distinct warning once with its count, highest severity first
        print(f"warning [{w.severity}]: {w.label}")
    return 0


def _run_many(args, configs: list[str]) -> int:
    """`nma run analyses/*.toml` (or a config with [[picos]]): each analysis into outputs/<name>/, one after another;
    a failing one is reported and the others still run; outputs/manifest.json lists every analysis folder at the end.
    [[picos]] configs are expanded (and every expansion loaded) before anything runs. Exit 2 if any failed."""
    from nma.analysis.outpath import check_output_dir
    from nma.app.manifest import write_manifest
    from nma.app.picos import has_picos, pico_configs
    from nma.app.run import run_analysis, run_config

    if args.out is not None:
        raise ConfigError(f"--out {args.out} with {len(configs)} config(s) giving several analyses (several files, or "
                          "[[picos]]): each analysis is written to outputs/<name>/. Fix: drop --out, or run one config "
                          "without [[picos]] at a time with its own --out")
    for config in configs:
        refuse_table_as_config(config)
    # (label, name, what to run): a config path, or a loaded [[picos]] expansion
    items = []
    for c in configs:
        items += ([(f"{c} [{cfg.pico}]", cfg.name, cfg) for cfg in pico_configs(c)] if has_picos(c)
                  else [(c, Path(c).stem, c)])
    names = [name for _, name, _ in items]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"analyses named {', '.join(twice)} more than once: each would overwrite outputs/<name>/. "
                          "Fix: give each config its own file name")
    for label, name, _ in items:       # every output path checked before anything runs
        check_output_dir(str(Path("outputs") / name), config=label.split(" [")[0], allow_outside=args.allow_outside)
    failed = []
    for i, (label, name, what) in enumerate(items, start=1):
        try:
            run = run_config if isinstance(what, str) else run_analysis
            result = run(what, out=Path("outputs") / name, engine=args.engine)
        except NMAError as err:
            print(f"[{i}/{len(items)}] {label}: FAILED: {err}", file=sys.stderr)
            failed.append(label)
            continue
        print(f"[{i}/{len(items)}] {label}: {result.message.splitlines()[-1]} ({len(result.warnings)} warning(s))")
    path = write_manifest(Path("outputs"))
    print(f"{path}: {len(items) - len(failed)} of {len(items)} analyses run"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return ERROR_EXIT if failed else 0


def _cmd_manifest(args) -> int:
    from nma.app.manifest import build_manifest, write_manifest

    path = write_manifest(args.outputs)
    m = build_manifest(args.outputs)
    print(f"{path}: {m['n_analyses']} analyses ({m['n_unconverged']} unconverged)")
    return 0


def _cmd_verify(args) -> int:
    from nma.analysis.provenance import verify_outputs

    ok, message = verify_outputs(args.outdir)
    print(message)
    return 0 if ok else 1


def _cmd_init(args) -> int:
    from nma.app.init import write_config

    written, kind = write_config(args.csv, out=args.config)
    print(f"Wrote {written} for the {kind} in {args.csv}. Edit its labels and priors, then run:\n"
          f"  nma run {written}")
    return 0


#: `nma --help` ends with these: a first analysis in three commands, and the shipped ones.
EXAMPLES = """examples:
  nma init my_hrs.csv                      write my_hrs.toml, a commented config for a CSV of HRs with 95% CIs
                                           (or of contrasts y, se, or of arm counts r, n: detected from its columns)
  nma check my_hrs.toml                    validate the config and its CSV, and describe the network
  nma run my_hrs.toml                      fit it and write outputs/my_hrs/ (report.html, league table, ...)
  nma run examples/own_data/analysis.toml --out outputs/example    the shipped example (make example)
  nma run analyses/metastatic_pretreated_os.toml --engine exact    a shipped analysis, without MCMC
  nma verify outputs/my_hrs                is that folder current with its data, config and package?

Each command has its own --help (nma run --help). README.md, "Your own data", walks through a first analysis."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nma", description="Bayesian network meta-analysis for HTA.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"nma {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init", help="write a commented analysis config for a CSV of ratios, contrasts or arm counts",
                       description="Write a commented analysis config (TOML) for a CSV of ratios with CIs (study, "
                       "treatment, hr|or|rr|ratio, ci_lower, ci_upper), contrasts (study, treatment, y, se) or arm "
                       "counts (study, treatment, r, n), detected from its columns. The CSV is validated first. An "
                       "existing config is never overwritten.")
    p.add_argument("csv", help="the CSV of trial results")
    p.add_argument("--config", default=None, help="where to write the config (default: <csv stem>.toml beside the CSV)")
    p.set_defaults(func=_cmd_init)
    p = sub.add_parser("check", help="validate evidence and print the network of each setting x outcome")
    p.add_argument("paths", nargs="*", help="data folder(s), evidence CSV(s) or contrast CSV(s) (default: data)")
    p.set_defaults(func=_cmd_check)
    p = sub.add_parser("run", help="fit analysis configs and write their outputs")
    p.add_argument("config", nargs="+", help="analysis config(s) (TOML); several (analyses/*.toml) run one after "
                   "another into outputs/<stem>/ and write outputs/manifest.json")
    p.add_argument("--out", default=None, help="output folder (default: outputs/<config stem>); must lie inside the "
                   "current directory or the config's project, without symlinks")
    p.add_argument("--allow-outside", action="store_true",
                   help="allow an output folder outside the project or reached through a symlink")
    p.add_argument("--engine", choices=["mcmc", "exact"], default=None, help="override [model] engine")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("manifest", help="write <outputs>/manifest.json: every analysis there, its hashes and warnings")
    p.add_argument("outputs", nargs="?", default="outputs", help="the folder of analysis folders (default: outputs)")
    p.set_defaults(func=_cmd_manifest)
    p = sub.add_parser("verify", help="say whether an output folder is current with its data, config and package")
    p.add_argument("outdir")
    p.set_defaults(func=_cmd_verify)
    return parser


def report_error(err: NMAError) -> int:
    print(f"error: {err}", file=sys.stderr)
    return ERROR_EXIT


def report_interrupt(signum: int, args) -> int:
    config = getattr(args, "config", None)
    config = config[0] if isinstance(config, list) and len(config) == 1 else config
    out = getattr(args, "out", None) or (f"outputs/{Path(config).stem}" if isinstance(config, str) else
                                         "outputs" if config else None)
    where = f" in {out}" if out else ""
    if isinstance(config, list):   # several analyses: the finished ones stay written
        print(f"interrupted by {interrupt.Interrupted(signum)}: the analysis being run was stopped and its previous "
              "outputs are untouched (temporary files removed); the analyses finished before it are written, "
              "outputs/manifest.json was not updated (nma manifest outputs rebuilds it)", file=sys.stderr)
    else:
        print(f"interrupted by {interrupt.Interrupted(signum)}: the run was stopped, nothing was written, and the "
              f"previous outputs{where} are untouched (temporary files removed)", file=sys.stderr)
    return _exit_now_if_sampling(128 + signum)


def _exit_now_if_sampling(code: int) -> int:
    """After an interrupt during MCMC, leave without the interpreter's teardown: XLA's threads may still be running
    the interrupted chunk, and tearing JAX down under them crashed the process (SIGSEGV instead of exit 143, seen
    once in CI). The outputs are already cleaned up; only stdio is left to flush."""
    if "jax" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def configure_process() -> None:
    """Process-wide settings of the `nma` command, made here rather than at `import nma` (a library import must not
    change its host's environment, warning filters or matplotlib backend). Called first in `main`."""
    import os
    import warnings

    # One BLAS thread per process: PyMC runs one chain per core, and threaded BLAS on top of that
    # oversubscribes the cores (measured on 2 cores: 72 s instead of 2 s for the same 2-chain fit).
    # setdefault, so a user's own setting wins; child processes inherit it. A BLAS reads these variables when it
    # is loaded, and `import nma.app.cli` runs nma/__init__.py first, which may already have loaded NumPy's; so,
    # unless the user chose a thread count, threadpoolctl sets the same limit on the BLAS already loaded.
    # (nma.models.sampler also limits BLAS threads while chains fork, for callers of the Python API.)
    threads = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    user_chose = any(var in os.environ for var in threads)
    for var in threads:
        os.environ.setdefault(var, "1")
    # XLA (the MCMC sampler) on one thread too: its ops are small, and its thread pool fighting the other processes
    # of `make -j2` for the cores doubled the sampling time (measured: 16.2 s -> 7.7 s for 4 x 4750 smoking draws)
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    if not user_chose:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")

    # PyTensor warns at import when pip-installed without a linkable BLAS. It falls back to NumPy's BLAS through
    # the C-API; for the small matrices of an NMA the cost is measured in benchmarks/README.md. Not a user issue.
    warnings.filterwarnings("ignore", message="Using NumPy C-API based implementation for BLAS functions")
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")
    # ArviZ 0.23 announces its 1.x refactor once per day per machine (a stamp in the user's cache), so the first
    # import on a fresh machine, as in CI, warns and later ones do not. We pin 0.23; the notice is not about our use.
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")

    # The command only writes figures to files: a non-interactive backend, so it runs without a display (CI, ssh)
    # and never opens a window. After the thread settings above: importing matplotlib imports NumPy.
    import matplotlib

    matplotlib.use("Agg")

    # What the sampler is doing ("NUTS: [tau, z], 4 chains x 1000 draws ..."), on stderr; the library only logs.
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("nma")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    configure_process()
    args = build_parser().parse_args(argv)
    try:
        with interrupt.guard():
            return args.func(args)
    except interrupt.Interrupted as stop:
        return report_interrupt(stop.signum, args)
    except KeyboardInterrupt:
        return report_interrupt(2, args)
    except NMAError as err:
        if interrupt.received():  # e.g. the convergence gate failing on the draws PyMC kept when interrupted
            return report_interrupt(interrupt.received(), args)
        return report_error(err)
    except Exception:
        if interrupt.received():
            return report_interrupt(interrupt.received(), args)
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
