"""The index of analyses (issue 15): engine and model, the best-ranked treatment's HR by name, warnings, the
secondary analyses below the main ones, and no 'converged' for exact-engine runs."""

import json
import math

import pandas as pd

from nma.reporting.report import write_index


def _analysis(root, name, engine, studies, warnings=()):
    folder = root / name
    folder.mkdir()
    info = {"title": name, "engine": engine, "converged": True, "warnings": list(warnings),
            "spec": {"effects": "random", "tau_prior": "half-normal(0.5)", "measure": "HR"},
            "network": {"studies": studies, "reference": "a"}, "config": {"data": {"setting": "s", "outcome": "os"}}}
    (folder / "run.json").write_text(json.dumps(info))
    pd.DataFrame({"treatment": ["b", "a"], "sucra": [0.9, 0.1]}).to_csv(folder / "ranks.csv", index=False)
    pd.DataFrame({"treatment": ["b"], "comparator": ["a"], "median": [math.log(0.5)], "lower": [math.log(0.25)],
                  "upper": [math.log(1.0)]}).to_csv(folder / "relative_effects.csv", index=False)
    pd.DataFrame({"id": ["a", "b"], "name": ["Alpha", "Beta"]}).to_csv(folder / "treatment_names.csv", index=False)


def test_index_lists_engine_headline_warnings_and_groups_secondary(tmp_path):
    _analysis(tmp_path, "main_os", "exact", ["S1", "S2"], ["ModelWarning: tau is not identified by the data"] * 2)
    _analysis(tmp_path, "seed_view", "mcmc", ["S1", "S2"])
    _analysis(tmp_path, "single", "exact", ["S1"])
    text = write_index(tmp_path).read_text()
    main, secondary = text.split("Secondary analyses")
    assert "main_os" in main and "seed_view" in secondary and "single" in secondary
    assert "Beta: HR 0.50 (0.25 to 1.00)" in main          # exp of the log-HRs written above, by name
    assert "tau is not identified by the data (x2)" in main
    row = {name: next(r for r in text.split("</tr>") if f"{name}/report.html" in r) for name in ("main_os", "seed_view")}
    assert "converged" not in row["main_os"] and "exact (no MCMC)" in row["main_os"]   # exact: nothing to converge
    assert "converged" in row["seed_view"]
