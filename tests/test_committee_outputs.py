"""What a committee reads (issue 15), end to end through Fit.save on a labelled network whose ids differ from its names:
the report's order (question, headline table, forest plot before any evidence table), no treatment id in its visible
text, the league table's direct triangle against closed forms, and each distinct warning once with its count.

The network: five two-arm trials with HRs and 95% CIs typed as a paper prints them (rounded, so not symmetric on the
log scale). A-B and A-C have two trials each, B-C one.
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import nma
from nma.analysis.save import Provenance, ReportOptions, save_fit
from nma.core.network import Network
from nma.models.exact import DIRECT_RULE

#: (study, comparator, treatment, HR of treatment vs comparator, CI lower, CI upper)
TRIALS = [("AB1", "l_cap", "tdm1", 0.55, 0.43, 0.70), ("AB2", "l_cap", "tdm1", 1.10, 0.82, 1.48),
          ("BC1", "tdm1", "ptx", 0.82, 0.55, 1.21), ("AC1", "l_cap", "ptx", 0.61, 0.43, 0.87),
          ("AC2", "l_cap", "ptx", 1.22, 0.82, 1.81)]
NAMES = {"l_cap": "Lapatinib + capecitabine", "tdm1": "Trastuzumab emtansine", "ptx": "Pertuzumab + trastuzumab"}
Z = stats.norm.ppf(0.975)
TAU = 0.4            # the stand-in posterior's tau (every draw): a closed form for the direct estimates
REPEATED = "EvidenceWarning: AB2: the CI is asymmetric on the log scale (rounded as printed); kept as reported"
#: A key warning raised after it, naming treatments by id (the report must show their names).
KEY = "ModelWarning: direct and indirect evidence disagree for tdm1 vs l_cap (p = 0.03)"


def network() -> Network:
    rows = []
    for s, a, b, hr, lo, hi in TRIALS:
        rows += [{"study": s, "treatment": a, "hr": np.nan, "ci_lower": np.nan, "ci_upper": np.nan},
                 {"study": s, "treatment": b, "hr": hr, "ci_lower": lo, "ci_upper": hi}]
    return Network.from_ratios(pd.DataFrame(rows), "HR", reference="l_cap", labels=NAMES)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One exact fit saved with league_upper = "direct"; a second save whose posterior has tau = TAU in every draw
    (as an MCMC posterior's tau draws would be used); before fitting, the same warning is raised twice with a key
    warning between."""
    fitted = nma.fit(network(), engine="exact", seed=3)
    out = tmp_path_factory.mktemp("committee")
    opts = ReportOptions(name="committee", title="Committee test", league_upper="direct")
    main = save_fit(fitted, out / "main", opts, Provenance(notes=(REPEATED, KEY, REPEATED)))
    fake = dataclasses.replace(fitted.posterior, tau=np.full_like(fitted.posterior.tau, TAU), exact=None)
    fixed_tau = save_fit(dataclasses.replace(fitted, posterior=fake, run_checks=False), out / "tau", opts)
    return main, fixed_tau


class _Text(HTMLParser):
    """The visible text of a page in order (no style/script), and the ids of the sections as they open."""

    def __init__(self):
        super().__init__()
        self.parts, self.skip, self.events = [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("style", "script"):
            self.skip += 1
        if tag in ("section", "table", "figure", "img"):     # every table, classed or not (evidence tables are not)
            self.events.append((tag, a.get("id") or a.get("class") or a.get("alt")))

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def parse(path) -> _Text:
    p = _Text()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_report_leads_with_question_headline_table_and_forest_before_any_evidence_table(run):
    p = parse(run[0] / "report.html")
    ev = p.events
    order = [e for e in ev if e in {("section", "question"), ("table", "headline"), ("img", "forest plot"),
                                    ("section", "network")}]
    assert order == [("section", "question"), ("table", "headline"), ("img", "forest plot"), ("section", "network")]
    first_table = next(i for i, e in enumerate(ev) if e[0] == "table")
    assert ev[first_table] == ("table", "headline")          # no evidence (or any other) table before the headline
    text = "\n".join(p.parts)
    # the headline rows: names and CrIs, best effect first (both HRs below 1 here, so the smaller median first)
    rel = pd.read_csv(run[0] / "relative_effects.csv").query("comparator == 'l_cap' and treatment != 'l_cap'")
    rel = rel.sort_values("median")
    head = text[text.index("rank (95% CrI)"):text.index("Key warnings", text.index("rank (95% CrI)"))]
    head = head.replace("\u00a0", " ")
    where = [head.index(NAMES[t]) for t in rel["treatment"]]
    assert where == sorted(where)
    for r in rel.itertuples():
        assert f"{np.exp(r.median):.2f} ({np.exp(r.lower):.2f} to {np.exp(r.upper):.2f})" in head


def test_no_treatment_id_in_the_reports_visible_text(run):
    text = "\n".join(parse(run[0] / "report.html").parts)
    for tid in NAMES:
        hits = [text[max(0, m.start() - 60):m.end() + 30] for m in re.finditer(rf"(?<![\w-]){tid}(?![\w-])", text)]
        assert hits == [], f"treatment id {tid!r} shown where its name {NAMES[tid]!r} exists: {hits}"
    assert all(name in text for name in NAMES.values())
    pages = {"league_table.html": "\n".join(parse(run[0] / "league_table.html").parts),
             "league_table.md": (run[0] / "league_table.md").read_text(encoding="utf-8")}
    for page, text in pages.items():
        assert not [t for t in NAMES if re.search(rf"(?<![\w-]){t}(?![\w-])", text)], page
        assert all(f"**{n}**" in text for n in NAMES.values()) if page.endswith(".md") else True


def direct(folder, t, c) -> pd.Series:
    return pd.read_csv(folder / "direct_effects.csv").set_index(["treatment", "comparator"]).loc[(t, c)]


def test_one_trial_direct_cell_is_the_trials_printed_hr_and_ci(run):
    matrix = pd.read_csv(run[0] / "league_table_matrix.csv", index_col=0)
    order = list(matrix.index)
    t, c = ("ptx", "tdm1") if order.index("ptx") < order.index("tdm1") else ("tdm1", "ptx")
    expected = "0.82 (0.55 to 1.21) [direct]" if t == "ptx" else f"{1 / 0.82:.2f} ({1 / 1.21:.2f} to {1 / 0.55:.2f}) [direct]"
    assert matrix.loc[t, c] == expected                        # y +/- z se would print 1.22 as the upper limit
    d = direct(run[0], "ptx", "tdm1")
    assert d["mean"] == pytest.approx(np.log(0.82), abs=1e-12) and d["n_studies"] == 1
    assert (d["lower"], d["upper"]) == pytest.approx((np.log(0.55), np.log(1.21)), abs=1e-12)


def test_two_trial_direct_estimate_pools_with_the_fits_tau_posterior(run):
    """With every tau draw at 0.4, the direct estimate is N(sum w y / sum w, 1 / sum w), w = 1 / (se^2 + 0.4^2)."""
    for t, trials in (("tdm1", ("AB1", "AB2")), ("ptx", ("AC1", "AC2"))):
        rows = [r for r in TRIALS if r[0] in trials]
        y = np.log([r[3] for r in rows])
        se = (np.log([r[5] for r in rows]) - np.log([r[4] for r in rows])) / (2 * Z)
        w = 1 / (se**2 + TAU**2)
        m, s = w @ y / w.sum(), w.sum() ** -0.5
        d = direct(run[1], t, "l_cap")
        assert d["n_studies"] == 2
        assert d["mean"] == pytest.approx(m, abs=1e-9) and d["sd"] == pytest.approx(s, rel=1e-9)
        assert (d["lower"], d["upper"]) == pytest.approx((m - Z * s, m + Z * s), abs=1e-6)
        # the exact fit's own tau posterior gives another answer: the posterior passed is the one used
        assert abs(direct(run[0], t, "l_cap")["upper"] - (m + Z * s)) > 0.01


def test_two_trial_direct_estimate_of_the_exact_fit_is_its_tau_posterior_mixture(run):
    """The exact fit's direct estimate against quadrature over its own tau posterior: the mixture's quantiles by
    root-finding on sum_g w_g Phi((x - m_g) / s_g) with the exact engine's tau nodes and weights."""
    fitted = nma.fit(network(), engine="exact", seed=3)
    tau, weight = fitted.posterior.exact.tau, fitted.posterior.exact.weight
    rows = [r for r in TRIALS if r[0] in ("AB1", "AB2")]
    y = np.log([r[3] for r in rows])
    se = (np.log([r[5] for r in rows]) - np.log([r[4] for r in rows])) / (2 * Z)
    iv = 1 / (se[None] ** 2 + tau[:, None] ** 2)
    m, s = (iv * y).sum(1) / iv.sum(1), iv.sum(1) ** -0.5
    wn = weight / weight.sum()
    q = {p: optimize.brentq(lambda x: wn @ stats.norm.cdf((x - m) / s) - p, -5, 5, xtol=1e-12) for p in (0.025, 0.975)}
    d = direct(run[0], "tdm1", "l_cap")
    assert (d["lower"], d["upper"]) == pytest.approx((q[0.025], q[0.975]), abs=1e-6)


def test_league_caption_states_the_direct_rule(run):
    for page in ("league_table.html", "report.html"):
        assert DIRECT_RULE in " ".join(" ".join(parse(run[0] / page).parts).split())
    sheet = pd.read_excel(run[0] / "league_table.xlsx", sheet_name="League table", header=None)
    assert DIRECT_RULE in sheet.iat[0, 0]
    beneath = " ".join(str(v) for v in sheet.iloc[3 + len(NAMES):, 0].dropna())
    assert "d (log-HR versus the reference) ~ normal with mean 0 and SD 10" in beneath   # both priors in the footnote
    assert "tau (between-study SD, log scale) ~ half-normal with scale 0.5" in beneath


def test_a_warning_raised_twice_is_listed_once_with_its_count_highest_severity_first(run):
    lines = (run[0] / "warnings.txt").read_text(encoding="utf-8").splitlines()
    assert sum(REPEATED in line for line in lines) == 1
    assert any(line.endswith(f"{REPEATED} (x2)") for line in lines)
    rank = {"key": 0, "warning": 1, "note": 2}
    severities = [re.match(r"\[(\w+)\]", line)[1] for line in lines]
    assert severities == sorted(severities, key=rank.get) and lines[0] == f"[key] {KEY}"
    text = "\n".join(parse(run[0] / "report.html").parts)
    all_warnings = text[text.rindex("All warnings"):text.rindex("Technical appendix")]
    assert all_warnings.count("AB2: the CI is asymmetric") == 1 and "(x2)" in all_warnings
    key = "direct and indirect evidence disagree for Trastuzumab emtansine vs Lapatinib + capecitabine"
    assert all_warnings.index(key) < all_warnings.index("AB2: the CI is asymmetric")   # named, and first
    assert "EvidenceWarning:" not in all_warnings and "ModelWarning:" not in all_warnings   # Python class names


def test_intervals_never_wrap_inside_the_parentheses(run):
    """Every "(lower to upper)" of the report's text is held together by no-break spaces, so a narrow league cell
    wraps before the interval ("0.73" / "(0.56 to 0.94)"), never inside it."""
    text = "\n".join(parse(run[0] / "report.html").parts)
    intervals = re.findall(r"\((-?[\d.]+)(\s)to(\s)(-?[\d.]+)\)", text)
    assert len(intervals) > 20 and all(a == b == "\u00a0" for _, a, b, _ in intervals)


def test_console_names_treatments_and_ranks_best_first(tmp_path, monkeypatch, capsys):
    """`nma run` on the shipped example: every treatment by its label, effects and ranking best first (the order of
    relative_effects.csv by median and of ranks.csv by SUCRA), each warning once with its severity."""
    import shutil
    from pathlib import Path

    from nma.app import cli

    example = Path(__file__).resolve().parents[1] / "examples" / "own_data"
    shutil.copytree(example, tmp_path / "examples" / "own_data")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "examples/own_data/analysis.toml", "--out", "outputs/example"]) == 0
    out = capsys.readouterr().out
    labels = {"chemo": "Chemotherapy", "drug_a": "Drug A + chemotherapy", "drug_b": "Drug B + chemotherapy",
              "drug_c": "Drug C + chemotherapy"}
    for tid in labels:
        assert re.search(rf"(?<![\w-]){tid}(?![\w-])", out) is None, f"id {tid} printed"
    folder = tmp_path / "outputs" / "example"
    rel = pd.read_csv(folder / "relative_effects.csv").query("comparator == 'chemo' and treatment != 'chemo'")
    effects = out[out.index("Relative effects versus Chemotherapy"):out.index("Ranking")]
    where = [effects.index(f"  {labels[t]}: ") for t in rel.sort_values("median")["treatment"]]
    assert where == sorted(where)
    ranking = out[out.index("Ranking"):]
    best_first = pd.read_csv(folder / "ranks.csv").sort_values("sucra", ascending=False)["treatment"]
    assert [ranking.index(f"{i}. {labels[t]}: ") for i, t in enumerate(best_first, 1)] == sorted(
        ranking.index(f"{i}. {labels[t]}: ") for i, t in enumerate(best_first, 1))
    warned = [line for line in out.splitlines() if line.startswith("warning")]
    assert len(warned) == len(set(warned)) and all(re.match(r"warning \[(key|warning|note)\]: ", w) for w in warned)


def test_diagnostics_table_names_parameters_and_prints_counts_as_counts():
    """The appendix's sampler table: d[id] shown as d[name], ESS as a whole number of draws, R-hat to the 3 decimals
    its 1.01 gate needs."""
    from nma.reporting.report import _table

    diag = pd.DataFrame({"parameter": ["d[tdm1]", "tau"], "r_hat": [1.004, 1.0], "ess_bulk": [2616.61, 3000.2]})
    p = _Text()
    p.feed(str(_table(diag, names=NAMES)))
    assert p.parts == ["parameter", "R-hat", "ESS (bulk)", "d[Trastuzumab emtansine]", "1.004", "2617", "tau", "1.000",
                       "3000"]


def test_question_in_words_for_one_trial():
    """The question: names joined with 'and', the population and outcome definition in words, '1 trial' singular."""
    from nma.reporting.deliverables import Deliverables

    one = network().contrasts.query("study == 'AB1'").drop(columns=["y", "se"])
    net = Network.from_ratios(one, "HR", reference="l_cap", labels={t: NAMES[t] for t in ("l_cap", "tdm1")})
    raw = {"data": {"setting": "metastatic_pretreated", "outcome": "os", "population": "itt",
                    "outcome_definition": "independent_review"}}
    fields = {f.name: None for f in dataclasses.fields(Deliverables)}
    d = Deliverables(**{**fields, "cfg": ReportOptions(raw=raw), "network": net,
                        "treatments_meta": pd.DataFrame(columns=["id", "label"])})
    assert d._question_text() == ("How does Trastuzumab emtansine compare with Lapatinib + capecitabine on overall survival "
                                  "in metastatic pretreated (intention-to-treat population)? Effects are hazard ratios "
                                  "(HR) versus Lapatinib + capecitabine, from 1 trial; outcome definition: independent "
                                  "review.")


def test_extension_sections_show_names_in_their_text_but_keep_their_markup():
    from markupsafe import Markup

    from nma.reporting.report import named_html

    html = Markup('<p>design l_cap:tdm1</p><td class="l_cap">ptx &amp; l_cap</td>')
    assert named_html(html, NAMES) == ('<p>design Lapatinib + capecitabine:Trastuzumab emtansine</p>'
                                       '<td class="l_cap">Pertuzumab + trastuzumab &amp; Lapatinib + capecitabine</td>')
    assert named_html("a < b, tdm1", NAMES) == "a &lt; b, Trastuzumab emtansine"      # plain text stays text


def test_sensitivity_table_has_one_column_per_prior_the_analysiss_first():
    from nma.reporting.deliverables import sensitivity_wide

    rows = []
    for prior, own, tau in (("half-normal(0.1)", False, (0.05, 0.01, 0.2, 0.9)), ("half-normal(0.5)", True,
                                                                                   (0.2, 0.02, 0.8, 0.7)),
                            ("fixed effect", False, (np.nan,) * 4)):
        for t, hr in (("l_cap", np.nan), ("tdm1", 0.8)):
            rows.append({"prior": prior, "analysis": own, "treatment": t, "comparator": "l_cap", "hr_median": hr,
                         "hr_lower": hr - 0.2, "hr_upper": hr + 0.3, "p_best": 0.5, "sucra": 0.75 if t == "tdm1" else 0.25,
                         **dict(zip(("tau_median", "tau_lower", "tau_upper", "tau_sd_ratio"), tau))})
    wide = sensitivity_wide(pd.DataFrame(rows), "HR", NAMES)
    assert list(wide.columns) == ["treatment", "half-normal(0.5) (this analysis)", "half-normal(0.1)", "fixed effect"]
    assert wide.iloc[0].tolist() == ["Trastuzumab emtansine", *["0.80 (0.60 to 1.10); SUCRA 0.75"] * 3]
    assert wide.iloc[1].tolist() == ["tau, median (95% CrI)", "0.20 (0.02 to 0.80)", "0.05 (0.01 to 0.20)",
                                     "0 (fixed effect)"]
    assert wide.iloc[2].tolist() == ["tau: posterior SD / prior SD", "0.70", "0.90", ""]
    assert len(wide) == 3                                   # the reference has no row


def test_emilia_direct_cell_in_the_previously_treated_os_table_is_its_published_hr_and_ci():
    """analyses/metastatic_pretreated_os.toml: T-DM1 vs lapatinib + capecitabine is compared by EMILIA alone; its final
    OS is printed as HR 0.75 (95% CI 0.64 to 0.88) (Dieras et al., Lancet Oncol 2017, via data/evidence.csv's
    ascopost_dieras2017 row), and the league table's direct cell is exactly that."""
    from pathlib import Path

    from nma.app.assemble import analysis_network
    from nma.app.config import load_config
    from nma.models.exact import direct_estimates
    from nma.models.spec import ModelSpec

    root = Path(__file__).resolve().parents[1]
    ev = pd.read_csv(root / "data" / "evidence.csv", dtype=str)
    row = ev[(ev["trial"] == "EMILIA") & (ev["analysis"] == "final_os") & (ev["source_id"] == "ascopost_dieras2017")
             & (ev["arm"] == "tdm1")].iloc[0]
    assert (row["hr"], row["ci_lower"], row["ci_upper"], row["comparator"]) == ("0.75", "0.64", "0.88", "l_cap")
    cfg = load_config(root / "analyses" / "metastatic_pretreated_os.toml")
    net = analysis_network(cfg).network
    spec = ModelSpec.from_config(cfg.model, measure="HR")
    table = direct_estimates(net, spec, (0.025, 0.5, 0.975)).set_index(["treatment", "comparator"])
    cell = table.loc[("tdm1", "l_cap")]
    assert cell["n_studies"] == 1
    assert np.exp([cell["median"], cell["lower"], cell["upper"]]) == pytest.approx([0.75, 0.64, 0.88], abs=1e-12)
    from nma.reporting.league import FMT

    assert FMT.format(**dict(zip(("median", "lower", "upper"), np.exp(cell[["median", "lower", "upper"]].to_numpy(float))))
                      ) == "0.75 (0.64 to 0.88)"                        # the league cell's text, before " [direct]"


def test_ranking_table_prints_sucra_bounds_to_two_decimals_and_probabilities_below_001_as_such():
    from nma.reporting.report import _table

    p = _Text()
    p.feed(str(_table(pd.DataFrame({"treatment": ["ptx"], "sucra": [0.87], "sucra_lower": [0.0], "sucra_upper": [1.0],
                                    "p_best": [0.004], "median_rank": [1.0]}), names=NAMES)))
    assert p.parts[6:] == ["Pertuzumab + trastuzumab", "0.87", "0.00", "1.00", "<0.01", "1"]
