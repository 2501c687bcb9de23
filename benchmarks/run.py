"""Time the engines on synthetic random-effects networks and report ESS per second.

    .venv/bin/python benchmarks/run.py [--sizes 5x7 10x40 30x150] [--skip-mcmc-above 40] [--out benchmarks/results.json]

For each (T treatments, S studies): the exact engine (posterior + all pairwise summaries), and MCMC split into
model build, first compile (logp + gradient), sampling, with min bulk ESS over d and of tau per second of
(compile + sampling). One end-to-end `nma run` (fresh process, compile cache warm) on 10x40. The binomial model
on TSD4's smoking network: fit, ESS, and the time of its MCMC model checks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import arviz as az

from nma.core.network import Network
from nma.core.synthetic import synthetic_network
from nma.models.exact import exact_relative_effects, fit_exact
from nma.models.normal_pymc import build_model
from nma.models.priors import parse_tau_prior
from nma.models.sampler import SamplerConfig, sample
from nma.models.spec import ModelSpec

SPEC = ModelSpec(effects="random", d_prior_sd=10.0, tau_prior=parse_tau_prior("half-normal(0.5)"))


def bench_exact(net: Network, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        exact_relative_effects(fit_exact(net, SPEC), (0.025, 0.5, 0.975))
        times.append(time.perf_counter() - t)
    return min(times)


def bench_mcmc(net: Network, seed: int) -> dict:
    t0 = time.perf_counter()
    model = build_model(net, SPEC)
    t1 = time.perf_counter()
    from nma.models.sampler import compiled_model

    compiled_model(model)[0].runner(4, 1000, 0.95)   # PyTensor -> JAX (compiling happens at the first call)
    t2 = time.perf_counter()
    idata = sample(model, SamplerConfig(seed=seed))
    t3 = time.perf_counter()
    ess = az.ess(idata, var_names=["d", "tau"], method="bulk")
    ess_d, ess_tau = float(ess["d"].min()), float(ess["tau"])
    wall = (t2 - t1) + (t3 - t2)
    return {"build_s": t1 - t0, "compile_s": t2 - t1, "sample_s": t3 - t2, "min_ess_d": ess_d, "ess_tau": ess_tau,
            "ess_tau_per_s": ess_tau / wall, "min_ess_d_per_s": ess_d / wall,
            "divergences": int(idata.sample_stats["diverging"].sum())}


def bench_end_to_end(T: int, S: int, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthetic_network(T, S, seed=seed).to_csv(tmp / "c.csv", index=False)
        (tmp / "a.toml").write_text(f'[data]\ncontrasts = "c.csv"\n[model]\neffects = "random"\nd_prior_sd = 10\n'
                                    f'tau_prior = "half-normal(0.5)"\n[sampler]\nseed = {seed}\n')
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nma", "run", str(tmp / "a.toml"), "--out", str(tmp / "out")],
                       check=True, capture_output=True)
        return time.perf_counter() - t


def bench_binomial(seed: int) -> dict:
    """TSD4's smoking network (24 studies, arm-level counts), binomial random effects: the fit, then the model checks
    a run adds (six node-split refits, UME, five tau priors and fixed effect), all by MCMC."""
    import pandas as pd

    from nma.checks.model_checks import model_checks
    from nma.core.arms import ArmNetwork
    from nma.inputs.arms import load_arms
    from nma.models.binomial_pymc import build_binomial_model
    from nma.models.families import BINOMIAL, FitSettings
    from nma.models.posterior import Posterior

    spec = ModelSpec(effects="random", d_prior_sd=100.0, tau_prior=parse_tau_prior("half-normal(5)"), measure="OR",
                     lower_is_better=False)
    net = ArmNetwork.from_data(load_arms(Path(__file__).parents[1] / "tests" / "reference" / "tsd4_smoking.csv"),
                               reference="no_contact")
    sampler = SamplerConfig(seed=seed)
    t0 = time.perf_counter()
    model = build_binomial_model(net, spec)
    t1 = time.perf_counter()
    idata = sample(model, sampler)
    t2 = time.perf_counter()
    ess = az.ess(idata, var_names=["d", "tau"], method="bulk")
    post = Posterior.from_idata(idata, treatments=net.treatments, parameters=net.treatments[1:], name="d", random=True)
    fit_table, _ = BINOMIAL.model_fit(net, post)
    fit_csv = pd.concat([fit_table, pd.DataFrame([{"study": "TOTAL"}])], ignore_index=True)
    t3 = time.perf_counter()
    checks = model_checks(net, spec, FitSettings(engine="mcmc", sampler=sampler), analysis=post, fit_table=fit_csv)
    t4 = time.perf_counter()
    return {"network": "TSD4 smoking (24 studies, 50 arms, 4 treatments)", "build_compile_s": t1 - t0,
            "sample_s": t2 - t1, "min_ess_d": float(ess["d"].min()), "ess_tau": float(ess["tau"]),
            "ess_tau_per_s": float(ess["tau"]) / (t2 - t0), "checks_s": t4 - t3,
            "checks_refits": 6 + 1 + 6, "checks_notes": list(checks.notes)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="*", default=["5x7", "10x40", "30x150"])
    parser.add_argument("--skip-mcmc-above", type=int, default=10**9, help="skip MCMC for networks with more studies")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        T, S = map(int, size.split("x"))
        net = Network.from_contrasts(synthetic_network(T, S, seed=args.seed))
        row = {"T": T, "S": S, "exact_s": bench_exact(net)}
        if S <= args.skip_mcmc_above:
            row.update(bench_mcmc(net, args.seed))
        rows.append(row)
        print(json.dumps(row), flush=True)
    e2e = bench_end_to_end(10, 40, args.seed)
    binomial = bench_binomial(args.seed)
    print(json.dumps(binomial), flush=True)
    result = {"machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
              "sampler": SamplerConfig().as_dict(), "rows": rows, "end_to_end_mcmc_10x40_s": e2e,
              "binomial": binomial}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"end-to-end nma run (MCMC, random effects, 10x40): {e2e:.1f} s")


if __name__ == "__main__":
    main()
