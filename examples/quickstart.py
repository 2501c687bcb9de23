"""A first analysis of one's own trials, from hazard ratios with their 95% CIs as printed (the README's example).

Four made-up trials of three drugs against placebo in a chronic disease, one of them three-armed. Run it with
`.venv/bin/python examples/quickstart.py`; it writes outputs/quickstart/ (the same files `nma run` writes).
"""

import pandas as pd

import nma

trials = pd.DataFrame([
    # study,   treatment, hr,   ci_lower, ci_upper, events  (the reference arm has an empty hr)
    ("ALPHA-1", "placebo", None, None, None, None),
    ("ALPHA-1", "drug_a", 0.72, 0.58, 0.89, None),
    ("BETA-2", "placebo", None, None, None, None),
    ("BETA-2", "drug_b", 0.81, 0.66, 0.99, None),
    ("GAMMA-3", "placebo", None, None, None, 210),     # three-arm: placebo's events give the covariance
    ("GAMMA-3", "drug_a", 0.69, 0.55, 0.87, None),
    ("GAMMA-3", "drug_c", 0.60, 0.47, 0.77, None),
    ("DELTA-4", "drug_b", None, None, None, None),
    ("DELTA-4", "drug_c", 0.78, 0.62, 0.98, None),
], columns=["study", "treatment", "hr", "ci_lower", "ci_upper", "events"])

net = nma.Network.from_ratios(trials, measure="HR", reference="placebo")
print(net.summary())

fit = nma.fit(net, effects="random", tau_prior="half-normal(0.5)", engine="exact", seed=1)
print(fit.relative_effects("placebo")[["treatment", "exp_median", "exp_lower", "exp_upper"]])
print(fit.ranks()[["treatment", "sucra", "p_best"]])
print(fit.league_table().head())
print(fit.heterogeneity())
checks = fit.checks()
print(checks.nodesplit if checks.nodesplit is not None else checks.no_nodesplit)

fig = nma.plot_forest(fit)          # a matplotlib Figure; nma.save_figure(fig, "forest") writes PNG and SVG
if __name__ == "__main__":
    fit.save("outputs/quickstart")
    print("written to outputs/quickstart/")
