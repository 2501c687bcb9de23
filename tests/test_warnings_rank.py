"""Warnings are ranked: each distinct one once with its count, highest severity first (issue 15)."""

from nma.errors import rank_warnings, warnings_text


def test_population_notes_merge_and_key_warnings_come_first():
    notes = ["PSIS-LOO: 2 stud(ies) with Pareto k > 0.7 (max 0.85); LOO is unreliable for them (see fit.csv)"]
    notes += [f"T{i}: no rows for population 'hr_pos' (has: itt); not included. To include it, set "
              f"[data.trials.T{i}] population" for i in range(14)]
    notes += ["ModelWarning: tau is not identified by the data: no comparison has more than one trial"] * 2
    ranked = rank_warnings(notes)
    assert [w.severity for w in ranked] == ["key", "warning", "note"]
    assert ranked[0].kind == "tau not identified" and ranked[0].count == 2
    assert ranked[1].count == 14 and ranked[1].text.startswith("14 trials had no rows for population 'hr_pos'")
    text = warnings_text(notes).splitlines()
    assert len(text) == 3 and text[0].startswith("[key]") and text[-1].startswith("[note] PSIS-LOO")
