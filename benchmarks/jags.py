"""nma against JAGS on the same networks, one after the other in one run: min-ESS per second of the whole process.

Both sides are timed as a whole process from the shell's point of view (interpreter start, imports, compiling,
adapting, sampling and, for nma, writing every output of `nma run`): JAGS through the NICE DSU TSD2 programs of
the reference harness (../shared/reference: `run_jags_binomial.R`, `run_jags.R`), nma through `nma run` with the
model checks switched off. Min ESS is over every d and tau (coda's effectiveSize for JAGS; ArviZ bulk ESS for
nma). Networks: TSD4 smoking (binomial RE; also with its model checks on), a seeded binomial network of 150
three-arm studies (the scale target), and the harness's synthetic contrast network T=12, S=40 (engine = "mcmc").
nma runs twice per network: first with an empty compile cache (cold), then again (warm: the compiled
sampler is loaded from the persistent cache, as on every run after the first on a machine).

Needs R with rjags, coda and jsonlite, and JAGS (Debian: r-base-core jags r-cran-rjags r-cran-coda r-cran-jsonlite).
A benchmark, not a test: CI never runs it.

    .venv/bin/python benchmarks/jags.py [--reference ../shared/reference] [--out benchmarks/jags_results.json]
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

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SMOKING = ROOT / "tests" / "reference" / "tsd4_smoking.csv"
#: The same budget on both sides: 4 chains, 1000 adaptation (+ 1000 burn-in for JAGS), 5000 kept draws each.
CHAINS, TUNE, DRAWS = 4, 1000, 5000


def timed(cmd: list[str], **kw) -> float:
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if res.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return time.perf_counter() - t


def jags_binomial(ref: Path, tmp: Path, arms: Path = SMOKING, reference: str = "no_contact") -> dict:
    out = tmp / f"jags_{arms.stem}.json"
    s = timed(["Rscript", str(ref / "run_jags_binomial.R"), "--data", str(arms), "--out", str(out), "--ref",
               reference, "--tau-prior", "halfnormal:0.5", "--d-prior-sd", "10", "--chains", str(CHAINS),
               "--adapt", str(TUNE), "--burnin", str(TUNE), "--iter", str(DRAWS)])
    res = json.loads(out.read_text())
    return {"seconds": s, "min_ess": float(res["min_ess"])}


def nma_run(config: str, tmp: Path, name: str, cache: Path) -> dict:
    cfg = tmp / f"{name}.toml"
    cfg.write_text(config)
    env = {**os.environ, "NMA_CACHE_DIR": str(cache)}
    s = timed([sys.executable, "-m", "nma", "run", str(cfg), "--out", str(tmp / name), "--allow-outside"], env=env)
    diag = pd.read_csv(tmp / name / "diagnostics.csv")
    keep = diag[diag["parameter"].str.match(r"^(d\[|tau$)")]
    timings = json.loads((tmp / name / "run.json").read_text())["timings_seconds"]
    return {"seconds": s, "min_ess": float(keep["ess_bulk"].min()), "timings": timings}


def three_arm_binomial(tmp: Path, n_studies: int = 150, n_treatments: int = 6, tau: float = 0.3, seed: int = 5) -> Path:
    """A seeded arm-level network of three-arm trials (treatments drawn at random, the lowest-numbered arm the
    baseline), 50 to 300 patients per arm, baseline risk around 25%, random effects with the given tau."""
    rng = np.random.default_rng(seed)
    d = np.concatenate([[0.0], rng.normal(0, 0.4, n_treatments - 1)])
    rows = []
    for i in range(n_studies):
        arms = np.sort(rng.choice(n_treatments, 3, replace=False))
        mu = rng.normal(-1.1, 0.5)
        cov = tau ** 2 * (np.full((2, 2), 0.5) + 0.5 * np.eye(2))
        delta = rng.multivariate_normal(d[arms[1:]] - d[arms[0]], cov)
        for a, eta in zip(arms, np.concatenate([[mu], mu + delta])):
            n = int(rng.integers(50, 301))
            rows.append({"study": f"S{i + 1:03d}", "treatment": f"t{a}", "r": int(rng.binomial(n, 1 / (1 + np.exp(-eta)))),
                         "n": n})
    path = tmp / f"binomial_{n_studies}x3.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def binomial_config(checks: bool, arms: Path = SMOKING, reference: str = "no_contact") -> str:
    return (f'[data]\narms = "{arms}"\n[model]\nreference = "{reference}"\neffects = "random"\nd_prior_sd = 10\n'
            f'tau_prior = "half-normal(0.5)"\nchecks = {str(checks).lower()}\n'
            f'[sampler]\nseed = 1\nchains = {CHAINS}\ntune = {TUNE}\ndraws = {DRAWS}\n')


def synthetic(ref: Path, tmp: Path, T: int, S: int) -> tuple[Path, Path]:
    """The harness's generator (three-arm studies, 20%): its CSV for JAGS, converted to nma's contrast CSV."""
    harness = tmp / f"synth_T{T}_S{S}.csv"
    subprocess.run([sys.executable, str(ref / "gen_synthetic.py"), "-T", str(T), "-S", str(S), "--frac3", "0.2",
                    "--tau", "0.2", "--seed", "2", "--out", str(harness), "--truth", str(tmp / "truth.json")],
                   check=True, capture_output=True)
    raw = pd.read_csv(harness, dtype={"study": str, "treatment": str})
    y = raw["diff"]
    se = raw["se_diff"].where(y.notna(), raw["se_ref_arm"])
    ours = pd.DataFrame({"study": raw["study"], "treatment": raw["treatment"], "y": y, "se": se})
    path = tmp / f"synth_T{T}_S{S}_nma.csv"
    ours.to_csv(path, index=False)
    return harness, path


def jags_contrast(ref: Path, tmp: Path, harness: Path) -> dict:
    out = tmp / "jags_contrast.json"
    s = timed(["Rscript", str(ref / "run_jags.R"), "--data", str(harness), "--model", "re", "--out", str(out),
               "--tau-prior", "halfnormal:0.5", "--d-prior-sd", "10", "--chains", str(CHAINS), "--adapt", str(TUNE),
               "--burnin", str(TUNE), "--iter", str(DRAWS), "--dic", "no"])
    res = json.loads(out.read_text())
    ess = [v["ess"] for v in res["d"].values()] + [res["tau"]["ess"]]
    return {"seconds": s, "min_ess": float(min(ess)), "reference": res["reference"]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--reference", default=str(ROOT.parent / "shared" / "reference"))
    p.add_argument("--out", default=str(Path(__file__).with_name("jags_results.json")))
    args = p.parse_args()
    ref = Path(args.reference)
    rows = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        cache = tmp / "cache"
        jags = jags_binomial(ref, tmp)
        cold = nma_run(binomial_config(False), tmp, "smoking_cold", cache)
        warm = nma_run(binomial_config(False), tmp, "smoking_warm", cache)
        checked = nma_run(binomial_config(True), tmp, "smoking_checks", cache)
        rows.append({"network": "TSD4 smoking, binomial RE (24 studies, 50 arms)", "jags": jags, "nma_cold": cold,
                     "nma_warm": warm, "nma_with_checks": checked})
        big = three_arm_binomial(tmp)
        jags = jags_binomial(ref, tmp, big, "t0")
        cold = nma_run(binomial_config(False, big, "t0"), tmp, "binomial150_cold", cache)
        warm = nma_run(binomial_config(False, big, "t0"), tmp, "binomial150_warm", cache)
        rows.append({"network": "synthetic binomial RE, 150 three-arm studies, 6 treatments", "jags": jags,
                     "nma_cold": cold, "nma_warm": warm})
        harness, ours = synthetic(ref, tmp, 12, 40)
        jags = jags_contrast(ref, tmp, harness)
        cfg = (f'[data]\ncontrasts = "{ours}"\n[model]\nreference = "{jags["reference"]}"\neffects = "random"\n'
               f'd_prior_sd = 10\ntau_prior = "half-normal(0.5)"\nengine = "mcmc"\nchecks = false\n'
               f'[sampler]\nseed = 1\nchains = {CHAINS}\ntune = {TUNE}\ndraws = {DRAWS}\n')
        cold = nma_run(cfg, tmp, "synth_cold", cache)
        warm = nma_run(cfg, tmp, "synth_warm", cache)
        rows.append({"network": "synthetic T=12, S=40, 20% three-arm, contrast RE", "jags": jags, "nma_cold": cold,
                     "nma_warm": warm})
    for row in rows:
        j = row["jags"]["min_ess"] / row["jags"]["seconds"]
        print(f"\n{row['network']}\n  JAGS: min ESS {row['jags']['min_ess']:.0f} in {row['jags']['seconds']:.1f} s = {j:.0f}/s")
        for key in ("nma_cold", "nma_warm", "nma_with_checks"):
            if key in row:
                r = row[key]
                rate = r["min_ess"] / r["seconds"]
                row[key]["ratio_to_jags"] = rate / j
                print(f"  {key}: min ESS {r['min_ess']:.0f} in {r['seconds']:.1f} s = {rate:.0f}/s: "
                      f"{rate / j:.2f} x JAGS (fit {r['timings'].get('fit', float('nan')):.1f} s, "
                      f"checks {r['timings'].get('checks', float('nan')):.1f} s)")
    machine = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
               "load_average_at_end": os.getloadavg()}
    Path(args.out).write_text(json.dumps({"machine": machine, "chains": CHAINS, "tune": TUNE, "draws": DRAWS,
                                          "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
