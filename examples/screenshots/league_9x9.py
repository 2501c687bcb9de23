"""The 9x9 league workbook of league_table_9x9_libreoffice_pdf.png: the nine longest names of data/treatments.csv,
made-up effects (seeded), a direct triangle; writes league9.xlsx in the current folder. Run from the repository root."""
import numpy as np, pandas as pd
from nma.reporting import league
from nma.reporting.deliverables import ABBREVIATIONS
t = pd.read_csv("data/treatments.csv", dtype=str)
t = t.assign(L=t["label"].str.len()).sort_values("L", ascending=False).head(9)
order = list(t["id"]); names = dict(zip(t["id"], t["label"]))
rng = np.random.default_rng(1)
d = dict(zip(order, rng.normal(0, 0.5, 9)))
rows = []
for r in order:
    for c in order:
        if r == c: continue
        m = d[r] - d[c]; s = 0.35
        lo, hi = m - 1.96 * s, m + 1.96 * s
        rows.append({"row": r, "column": c, "median": np.exp(m), "lower": np.exp(lo), "upper": np.exp(hi),
                     "p_row_better": float(1 - __import__("scipy").stats.norm.cdf(m / s)), "excludes_1": bool(hi < 0 or lo > 0)})
long = pd.DataFrame(rows)
direct = long.sample(12, random_state=1)
matrix = league.league_matrix(long, order, direct=direct)
text = (league.caption("HR", True, with_prob=False, direct_upper=True) + " Model: Random-effect network meta-analysis on the log hazard ratio scale. "
        "Each basic parameter d (log-HR versus the reference) ~ normal with mean 0 and SD 10. tau (between-study SD, log scale) ~ half-normal with scale 0.5. Credible intervals: 95%, equal-tailed. P(row better): sheet 'P(row better)'.")
foot = ["Model: random effects; Each basic parameter d (log-HR versus the reference) ~ normal with mean 0 and SD 10.", "Analysis x; nma 0.1.0; input hash abcdef123456; seed 1."]
ab = {k: v for k, v in ABBREVIATIONS.items() if k in ("CrI", "HR", "P(better)", "tau")}
league.write_xlsx(long, matrix, "league9.xlsx", text, foot, True, True, names=names, abbreviations=ab)
print(order, max(map(len, names.values())))
