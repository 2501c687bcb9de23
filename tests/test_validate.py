"""The validation stage: a config that names what the network does not have fails before any fitting.

Every case runs through `nma run` (cli.main, exit code 2 and the message on stderr) or `run_config`, with the exact
engine and the sampler replaced by functions that fail the test if called, and leaves the output folder unwritten.
The rules are in nma/app/validate.py (mid against the measure and the direction of benefit, treatment names).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nma.app import cli
from nma.app.assemble import analysis_network
from nma.app.config import MAX_SEED, load_config
from nma.app.run import run_config
from nma.app.validate import validate_config
from nma.errors import ConfigError, EvidenceError, ModelSpecError, NMAError

CORPUS = Path(__file__).resolve().parent / "bad_inputs" / "_project"
#: The corpus's contrast file: studies S1 (A, B, C) and S2 (B, C); treatments A, B, C; y are log-HRs.
CONTRASTS = (CORPUS / "contrasts.csv").read_text(encoding="utf-8")


@pytest.fixture
def no_fit(monkeypatch):
    """Replace the exact engine, the sampler and the public fit everywhere they were imported: calling any fails."""
    import pymc

    import nma.models.exact
    import nma.models.sampler

    originals = [nma.models.exact.fit_exact, nma.models.sampler.sample, pymc.sample]
    try:
        import nma.analysis.fit

        originals.append(nma.analysis.fit.fit)
    except ImportError:  # pragma: no cover - before the public API lands
        pass

    def fitted(*args, **kwargs):
        raise AssertionError("fitted")

    patched = []
    for name, module in list(sys.modules.items()):
        if module is None or not (name.startswith("nma") or name == "pymc"):
            continue
        for attr, value in list(vars(module).items()):
            if any(value is o for o in originals):
                monkeypatch.setattr(module, attr, fitted)
                patched.append(f"{name}.{attr}")
    assert "nma.models.exact.fit_exact" in patched and "nma.models.sampler.sample" in patched
    return patched


def project(tmp_path: Path, model: str = "", sampler: str = "", contrasts: str = CONTRASTS) -> Path:
    """tmp_path/analyses/c.toml over tmp_path/contrasts.csv, exact engine, random effects; returns the config."""
    (tmp_path / "analyses").mkdir(exist_ok=True)
    (tmp_path / "contrasts.csv").write_text(contrasts, encoding="utf-8")
    config = tmp_path / "analyses" / "c.toml"
    config.write_text('title = "validation"\n[data]\ncontrasts = "../contrasts.csv"\n[model]\neffects = "random"\n'
                      'reference = "A"\nd_prior_sd = 10\ntau_prior = "half-normal(0.5)"\nengine = "exact"\n'
                      f'{model}\n[sampler]\nseed = 1\ndraws = 200\nchains = 2\n{sampler}\n', encoding="utf-8")
    return config


def cli_run(tmp_path: Path, config: Path, monkeypatch, capsys) -> tuple[int, str, list[NMAError]]:
    """`nma run analyses/c.toml --out outputs/c` in tmp_path: exit code, stderr and the NMAError reported."""
    monkeypatch.chdir(tmp_path)
    caught: list[NMAError] = []
    report = cli.report_error
    monkeypatch.setattr(cli, "report_error", lambda err: caught.append(err) or report(err))
    code = cli.main(["run", str(config.relative_to(tmp_path)), "--out", "outputs/c"])
    return code, capsys.readouterr().err, caught


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# (case id, [model] lines, [sampler] lines, error class, fragments of the message)
CONFIG_CASES = [
    ("mid_above_one_hr", "mid = 1.25", "", ConfigError,
     ["c.toml", "[model] mid = 1.25", "between 0 and 1", "reciprocal, mid = 0.8", "Fix:"]),
    ("mid_zero", "mid = 0", "", ConfigError, ["[model] mid = 0:", "greater than 0", "Fix:"]),
    ("mid_negative", "mid = -0.8", "", ConfigError, ["[model] mid = -0.8:", "greater than 0", "Fix:"]),
    ("mid_one", "mid = 1.0", "", ConfigError, ["[model] mid = 1.0:", "(1 is no difference)", "Fix:"]),
    ("mid_below_one_higher_better", "mid = 0.8\nlower_is_better = false", "", ConfigError,
     ["[model] mid = 0.8:", "greater than 1", "reciprocal, mid = 1.25", "Fix:"]),
    ("mid_nan", "mid = nan", "", ConfigError, ["[model] mid = nan:", "finite", "Fix:"]),
    ("league_order_unknown", 'league_order = ["9", "A", "B", "C"]', "", ConfigError,
     ['[model] league_order = ["9", "A", "B", "C"]', 'treatment "9" is not in the network', "A, B, C", "Fix:"]),
    ("league_order_subset", 'league_order = ["B", "A"]', "", ConfigError,
     ['[model] league_order = ["B", "A"]', "C is not listed", "Fix:"]),
    ("league_order_duplicate", 'league_order = ["B", "A", "C", "B"]', "", ConfigError,
     ['[model] league_order', '"B" is listed twice', "Fix:"]),
    ("league_order_not_a_string", 'league_order = [1, 2, 3]', "", ConfigError,
     ['[model] league_order = [1, 2, 3]', "1 is not a treatment id", "double quotes", "Fix:"]),
    ("forest_comparator_unknown", 'forest_comparators = ["9"]', "", ConfigError,
     ['[model] forest_comparators = ["9"]', 'treatment "9" is not in the network', "A, B, C", "Fix:"]),
    ("forest_comparator_typo", 'forest_comparators = ["b"]', "", ConfigError,
     ['[model] forest_comparators = ["b"]', "did you mean 'B'?", "Fix:"]),
    ("seed_negative", "", "seed = -1", ConfigError, ["c.toml", "[sampler] seed = -1", "0 to 4294967295", "Fix:"]),
    ("seed_above_32_bits", "", "seed = 4294967296", ConfigError, ["[sampler] seed = 4294967296", "Fix:"]),
    ("cores_zero", "", "cores = 0", ConfigError, ["[sampler] cores = 0", "must be positive", "Fix:"]),
    ("reference_median_infinite", "reference_median_months = inf", "", ConfigError,
     ["[model] reference_median_months = inf", "finite", "Fix:"]),
]


def _config(tmp_path: Path, model: str, sampler: str) -> Path:
    # [sampler] seed is written once: a case's seed line replaces the default one
    config = project(tmp_path, model)
    if sampler:
        text = config.read_text(encoding="utf-8")
        key = sampler.split("=")[0].strip()
        lines = [line for line in text.splitlines() if not line.startswith(f"{key} =")]
        config.write_text("\n".join(lines) + f"\n{sampler}\n", encoding="utf-8")
    return config


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_error_through_the_cli_before_any_fit(case, tmp_path, monkeypatch, capsys, no_fit):
    _, model, sampler, error, fragments = case
    config = _config(tmp_path, model, sampler)
    before = files(tmp_path)
    code, err, caught = cli_run(tmp_path, config, monkeypatch, capsys)
    assert code == 2, err
    assert [type(e) for e in caught] == [error], err
    assert err.startswith("error: ") and "Traceback" not in err and "fitted" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert not (tmp_path / "outputs").exists()
    assert files(tmp_path) == before


@pytest.mark.parametrize("case", [c for c in CONFIG_CASES if c[0] in ("mid_above_one_hr", "forest_comparator_unknown",
                                                                       "league_order_unknown", "seed_negative")],
                         ids=lambda c: c[0])
def test_config_error_through_run_config_before_any_fit(case, tmp_path, no_fit):
    _, model, sampler, error, fragments = case
    config = _config(tmp_path, model, sampler)
    with pytest.raises(error) as info:
        run_config(config, out=tmp_path / "outputs" / "c")
    for fragment in fragments:
        assert fragment in str(info.value)
    assert not (tmp_path / "outputs").exists()


def test_reference_not_in_the_network_fails_at_assembly_naming_the_key(tmp_path, monkeypatch, capsys, no_fit):
    """The reference orders the network, so assembly refuses it, as a ConfigError naming the key, before any fit."""
    config = project(tmp_path)
    config.write_text(config.read_text().replace('reference = "A"', 'reference = "9"'))
    code, err, caught = cli_run(tmp_path, config, monkeypatch, capsys)
    assert code == 2 and len(caught) == 1 and isinstance(caught[0], ConfigError), err
    assert "[model] reference" in err and "'9'" in err and "A, B, C" in err and "Fix:" in err
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("y, se, column, fragment", [
    ("1e308", "0.2", "y", "|y| = 1e+308 is beyond 50"),
    ("-60", "0.2", "y", "|y| = 60 is beyond 50"),
    ("-0.3", "1e308", "se", "se = 1e+308 is beyond 50"),
    ("-0.3", "1e-200", "se", "se = 1e-200 is below 0.0001"),
    ("nan", "0.2", "y", "not finite"),
    ("inf", "0.2", "y", "not finite"),
    ("-0.3", "nan", "se", "not finite"),
])
def test_contrast_of_absurd_size_is_refused_with_file_row_column(y, se, column, fragment, tmp_path, monkeypatch,
                                                                  capsys, no_fit):
    """Row 6 of the file (S2, C: a two-arm study, so no covariance check gets there first)."""
    text = CONTRASTS.replace("S2,C,0.2,0.3", f"S2,C,{y},{se}")
    assert text != CONTRASTS
    config = project(tmp_path, contrasts=text)
    code, err, caught = cli_run(tmp_path, config, monkeypatch, capsys)
    assert code == 2, err
    assert [type(e) for e in caught] == [EvidenceError]
    assert "contrasts.csv, row 6" in err and f"column '{column}'" in err and fragment in err and "Fix:" in err
    assert not (tmp_path / "outputs").exists()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "contrasts.csv"]) == 2   # `nma check` reads the file the same way


def test_difference_scale_allows_larger_values(tmp_path):
    """On a mean difference scale |y| = 60 (e.g. metres walked) is plausible; 1e7 is not."""
    from nma.inputs.contrasts import load_contrasts

    path = tmp_path / "md.csv"
    path.write_text(CONTRASTS.replace("S2,C,0.2,0.3", "S2,C,60,12"), encoding="utf-8")
    assert load_contrasts(path, measure="MD").loc[4, "y"] == 60.0
    with pytest.raises(EvidenceError, match=r"row 6, column 'y'"):
        load_contrasts(path)   # a ratio measure by default: log-HR 60 is an HR of 1e26
    path.write_text(CONTRASTS.replace("S2,C,0.2,0.3", "S2,C,1e7,12"), encoding="utf-8")
    with pytest.raises(EvidenceError, match=r"row 6, column 'y'.*beyond 1e\+06"):
        load_contrasts(path, measure="MD")


def test_arm_count_beyond_any_trial_is_refused(tmp_path):
    from nma.inputs.arms import load_arms

    path = tmp_path / "arms.csv"
    path.write_text("study,treatment,r,n\nS1,A,10,100\nS1,B,1e300,1e308\n", encoding="utf-8")
    with pytest.raises(EvidenceError, match=r"arms.csv, row 3, column 'n'.*more than any trial"):
        load_arms(path)


# ---- the rules, on an assembled network (no fit is called: validate_config only reads the config and the network)

def _validate(tmp_path: Path, model: str, measure: str | None = None):
    config = project(tmp_path, model)
    cfg = load_config(config)
    network = analysis_network(cfg).network
    if measure is not None:   # the same network read as another measure (the rules depend only on it)
        from dataclasses import replace

        from nma.core.measures import measure_of

        network = replace(network, measure=measure_of(measure))
    validate_config(cfg, network)


@pytest.mark.parametrize("model", [
    "mid = 0.8", "mid = 0.999", "mid = 1.25\nlower_is_better = false", "mid = 1.001\nlower_is_better = false",
    'league_order = ["C", "A", "B"]', 'forest_comparators = ["B", "C"]', 'forest_comparators = ["A"]',
    "reference_median_months = 12.4", "",
])
def test_valid_keys_pass(model, tmp_path, no_fit):
    _validate(tmp_path, model)   # raises nothing


@pytest.mark.parametrize("model, measure, fragment", [
    ("mid = 0.8", "MD", "mean difference (MD)"),                # mid.csv is computed on the ratio scale only
    ("reference_median_months = 12.4", "OR", "odds ratio (OR)"),
    ("reference_median_months = 12.4", "MD", "mean difference (MD)"),
])
def test_keys_the_measure_cannot_honour(model, measure, fragment, tmp_path, no_fit):
    with pytest.raises(ConfigError, match=r"\[model\] (mid|reference_median_months) = .*" + fragment.replace("(", r"\(")
                       .replace(")", r"\)") + r".*Fix: remove"):
        _validate(tmp_path, model, measure)


def test_largest_seed_is_accepted(tmp_path):
    cfg = load_config(_config(tmp_path, "", f"seed = {MAX_SEED}"))
    assert cfg.sampler.seed == 2**32 - 1


def test_mid_probabilities_names_the_python_argument():
    import numpy as np

    from nma.posterior.summaries import mid_probabilities

    draws = np.zeros((10, 2))
    for mid, lower in ((1.25, True), (0.0, True), (-0.8, True), (0.8, False)):
        with pytest.raises(ModelSpecError, match=rf"mid={mid!r}: with lower_is_better={lower}.*Fix:"):
            mid_probabilities(draws, ("A", "B"), mid, lower)


def test_python_arguments_raise_nma_errors():
    from nma.core.synthetic import synthetic_network

    with pytest.raises(NMAError, match=r"n_studies=2 with n_treatments=5.*Fix:"):
        synthetic_network(5, 2)
    from helpers import parkinsons

    from nma.models.normal_pymc import build_model
    from nma.models.spec import ModelSpec

    with pytest.raises(ModelSpecError, match=r"parameterisation='joint' is not one of conditional, direct"):
        build_model(parkinsons(), ModelSpec(effects="fixed"), parameterisation="joint")



def test_the_guard_catches_a_fit(tmp_path, no_fit):
    """Control: a valid config does reach the fit, which the fixture turns into a failure, so the cases above
    stopped before it because of validation."""
    config = project(tmp_path, 'mid = 0.8\nforest_comparators = ["B"]\nleague_order = ["C", "B", "A"]')
    with pytest.raises(AssertionError, match="fitted"):
        run_config(config, out=tmp_path / "outputs" / "c")
    assert not (tmp_path / "outputs").exists()


def test_valid_config_runs_and_writes_what_the_keys_ask(tmp_path):
    """Without the guard the same config runs: mid.csv holds P(HR < 0.8) and the league table follows league_order."""
    import numpy as np
    import pandas as pd

    config = project(tmp_path, 'mid = 0.8\nforest_comparators = ["B"]\nleague_order = ["C", "B", "A"]')
    run_config(config, out=tmp_path / "outputs" / "c")
    out = tmp_path / "outputs" / "c"
    mid = pd.read_csv(out / "mid.csv").set_index(["treatment", "comparator"])
    draws = pd.read_csv(out / "draws.csv")
    assert set(mid["mid"]) == {0.8} and len(mid) == 6
    for t in ("B", "C"):   # P(HR of t vs A < 0.8) = share of draws with log-HR below log(0.8)
        assert mid.loc[(t, "A"), "p_beats_by_mid"] == pytest.approx((draws[f"d[{t}]"] < np.log(0.8)).mean(), abs=1e-9)
    assert mid.loc[("C", "B"), "p_beats_by_mid"] == pytest.approx(((draws["d[C]"] - draws["d[B]"]) < np.log(0.8)).mean(),
                                                                  abs=1e-9)
    assert (out / "figures" / "forest_vs_B.png").is_file()
    matrix = pd.read_csv(out / "league_table_matrix.csv", index_col=0)
    assert list(matrix.index) == ["C", "B", "A"] and list(matrix.columns) == ["C", "B", "A"]


def test_measure_of_the_config_sets_the_plausible_size(tmp_path, no_fit):
    """[data] measure = "MD": y = 60 (a mean difference) reaches the fit; the same file as log-HRs is refused."""
    text = CONTRASTS.replace("S2,C,0.2,0.3", "S2,C,60,12")
    config = project(tmp_path, contrasts=text)
    with pytest.raises(EvidenceError, match=r"contrasts.csv, row 6, column 'y': \|y\| = 60 is beyond 50.*log hazard"):
        run_config(config, out=tmp_path / "outputs" / "c")
    config.write_text(config.read_text().replace('[data]\n', '[data]\nmeasure = "MD"\n'))
    with pytest.raises(AssertionError, match="fitted"):
        run_config(config, out=tmp_path / "outputs" / "c")
    config.write_text(config.read_text().replace('[model]\n', '[model]\nmid = -0.5\n'))
    with pytest.raises(ConfigError, match=r"\[model\] mid = -0.5: the measure is a mean difference \(MD\)"):
        run_config(config, out=tmp_path / "outputs" / "c")
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("model, error", [
    ("mid = 1.25", None),                                   # binary outcome: higher (response) is better, OR > 1
    ("mid = 0.8", r"\[model\] mid = 0.8: with lower_is_better = false \(higher is better\) an odds ratio \(OR\) above 1 is a benefit"),
    ("reference_median_months = 12.0", r"\[model\] reference_median_months = 12.0: .*odds ratio \(OR\)"),
    ('forest_comparators = ["Z"]', r'\[model\] forest_comparators = \["Z"\]: treatment "Z" is not in the network'),
])
def test_arm_level_network(model, error, tmp_path, no_fit):
    """TSD4 smoking cessation (arm counts, odds ratios): the rules read the measure and direction of the network."""
    from helpers import REF

    config = tmp_path / "arms.toml"
    config.write_text(f'[data]\narms = "{REF / "tsd4_smoking.csv"}"\n[model]\neffects = "random"\n{model}\n',
                      encoding="utf-8")
    cfg = load_config(config)
    network = analysis_network(cfg).network
    if error is None:
        validate_config(cfg, network)
    else:
        with pytest.raises(ConfigError, match=error):
            validate_config(cfg, network)
