"""The Setting chapter: the closed forms of Section 3 and the ways to compute G', checked on the
chapter's own configuration (the defaults of book/setting.md)."""
import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from l2lcore.book import figure_csv  # noqa: E402
from l2lcore.book.claims import CONSISTENCY, NOT_TESTED, REPRODUCED, claims_table  # noqa: E402
from l2lcore.chapters import setting  # noqa: E402

DEFAULTS = dict(d=20, seed=0, ensemble="code", horizons=[10, 80, 1000, 10000], n_grid=400, unrolled_max_t=80)


@pytest.fixture(scope="module")
def chapter():
    cfg = setting.config("book", **DEFAULTS)
    task = setting.make_task(cfg)
    table = setting.compare_methods(task, setting.step_sizes(task), cfg.horizons, cfg.unrolled_max_t)
    moderate = setting.moderate_ratio(task, cfg)
    land = setting.landscape(task, cfg)
    proven = setting.prove(task, table, moderate, land)
    return cfg, task, table, moderate, land, setting.claims(task, table, moderate, land, proven), proven


def test_every_claim_has_its_expected_verdict_and_all_hold_at_the_defaults(chapter):
    *_, claims, _ = chapter
    assert all(c.as_expected for c in claims), [c for c in claims if not c.as_expected]
    checked = [c for c in claims if c.holds is not None]
    # the old chapter required every claim to hold: they still do, and so do the new ones
    assert len(checked) == 11 and all(c.holds for c in checked), [c for c in checked if not c.holds]
    assert all(c.verdict == REPRODUCED for c in checked)
    table = claims_table(claims, setting.STATEMENTS, "setting")
    assert {s.key for s in setting.STATEMENTS} == {c.statement for c in claims} - {""}, "every statement has a claim"
    for key in ("closed-forms", "scale-cancels"):  # identities: checking them tests our code only
        assert all(c.kind == CONSISTENCY for c in checked if c.statement == key)
        assert table.verdict_of(key) == NOT_TESTED
    for key in ("log-moderate", "backprop", "unique-minimizer", "eta-star-limit"):
        assert table.verdict_of(key) == REPRODUCED


def test_the_closed_forms_match_the_unrolled_loop_and_the_stable_method_matches_them(chapter):
    _, _, table, _, _, _, _ = chapter
    unrolled = [r for r in table.rows if r.unrolled is not None]
    assert len(unrolled) == 6  # three step sizes at t = 10 and t = 80
    assert max(setting.relative_error(r.stable, r.exact) for r in table.rows) <= 1e-9


def test_g_prime_stays_moderate_while_the_sums_leave_float64(chapter):
    _, _, _, moderate, _, _, _ = chapter
    top = moderate.labels[-1]
    assert moderate.log10_D[top][-1] > setting.LOG10_FLOAT64_MAX
    assert moderate.log10_N[top][-1] > setting.LOG10_FLOAT64_MAX
    assert max(moderate.max_G) / min(moderate.max_G) < setting.MODERATE_FACTOR
    # G' = -2 N / D: the logarithms are consistent with the ratio
    for label in moderate.labels:
        for logN, logD, g in zip(moderate.log10_N[label], moderate.log10_D[label], moderate.G[label]):
            assert math.isclose(logN - logD + math.log10(2), math.log10(abs(g)), abs_tol=1e-9)


def test_eta_star_rises_towards_the_classical_step(chapter):
    _, task, _, _, land, _, _ = chapter
    assert all(n == 1 for n in land.sign_changes)
    assert all(a < b for a, b in zip(land.stars, land.stars[1:]))
    assert land.stars[-1] < 2 / (task.L + task.alpha)


def test_figures_carry_equal_length_data(chapter):
    cfg, task, table, moderate, land, _, _ = chapter
    import matplotlib.pyplot as plt

    for fig, data in (setting.spectrum_figure(task, cfg), setting.methods_figure(table, cfg),
                      setting.moderate_figure(moderate, cfg), setting.landscape_figure(land, cfg)):
        assert figure_csv(data).count("\n") > 1
        plt.close(fig)
    assert "<table" in table._repr_html_()


def test_paper_scale_keeps_the_book_sizes():
    assert setting.config("paper", **DEFAULTS) == setting.Config(**{**DEFAULTS, "horizons": (10, 80, 1000, 10000),
                                                                     "scale": "paper"})


@pytest.mark.parametrize("change, message", [
    ({"horizons": [10]}, "horizons"),
    ({"horizons": [80, 10]}, "horizons"),
    ({"horizons": "10"}, "horizons"),
    ({"d": 0}, "d"),
    ({"ensemble": "other"}, "ensemble"),
    ({"n_grid": 10}, "n_grid"),
    ({"unrolled_max_t": -1}, "unrolled_max_t"),
    ({"seed": -1}, "seed"),
])
def test_bad_parameters_raise_value_errors_naming_them(change, message):
    with pytest.raises(ValueError, match=message):
        setting.config("book", **{**DEFAULTS, **change})
    with pytest.raises(ValueError, match="scale"):
        setting.config("huge", **DEFAULTS)


def test_dense_horizons_run_from_one_to_the_longest():
    cfg = setting.config("book", **DEFAULTS)
    assert cfg.dense_horizons[0] == 1 and cfg.dense_horizons[-1] == 10000
    assert np.all(np.diff(cfg.dense_horizons) > 0)


def test_every_exact_value_the_chapter_shows_is_proven(chapter):
    """Issue 13: the certified values agree with proven Arb enclosures, eta*(t) included; so do
    the task's constants as shown, the spectrum, every value of the moderate-ratio figure, G' and
    eta L on the landscape's grid, the sign changes of G', and every number read from them."""
    cfg, task, table, moderate, land, claims, proven = chapter
    n = len(table.rows) + len(land.horizons) + sum(len(land.log10_F[t]) for t in land.shown)
    n += len(setting.SHOWN_CONSTANTS) + 2 * task.d  # constants as shown; lambda_i and c_i^2 as plotted
    n += len(moderate.horizons) * (2 + 3 * len(moderate.labels)) + len(setting.moderate_values(moderate))
    n += len(land.shown) * len(land.grid) + len(land.horizons) + len(land.grid)  # G' drawn, sign changes, eta L
    n += len(setting.landscape_values(land)) + len(land.horizons) + 1  # spans, eta* L; claim 10's eta* and 2/(L+alpha)
    n += 1  # claim 8's largest exact |G'|
    assert proven.check.count == n and proven.check.all_proven, proven.check.outside
    assert all(b.contains(r.exact) or b.digits >= 30 for r, b in zip(table.rows, proven.balls))
    (proof_row,) = [c for c in claims if c.tag == "proven-values"]
    assert proof_row.cases == n and proof_row.as_expected


def test_a_value_shown_wrong_is_caught(chapter):
    """A figure value off in its 9th digit, a wrong count of sign changes and an eta*(t) off in
    its 8th digit each fail their proof; nothing else does."""
    from dataclasses import replace

    cfg, task, table, moderate, land, claims, proven = chapter
    top, t = moderate.labels[-1], moderate.horizons[-1]
    G = {**moderate.G, top: moderate.G[top][:-1] + [moderate.G[top][-1] * (1 + 1e-9)]}
    wrong = [label for label, ok in setting.moderate_checks(task, replace(moderate, G=G)) if not ok]
    assert wrong == [("G'", moderate.etas[-1], t)]
    first = land.shown[0]
    stars = (land.stars[0] * (1 + 3e-8),) + land.stars[1:]
    bad = replace(land, G={**land.G, first: land.G[first] * np.where(np.arange(len(land.grid)) == 7, 1 + 1e-9, 1)},
                  sign_changes=(2,) + land.sign_changes[1:], stars=stars)
    wrong = [label for label, ok in setting.landscape_checks(task, bad) if not ok]
    assert wrong[:3] == [("G' on the grid", float(land.grid[7]), first), ("sign changes of G' on the grid", None, first),
                         ("eta* as shown", None, land.horizons[0])], wrong
    assert set(wrong[3:]) <= {("star_first", None, land.horizons[0])}


def test_the_shown_constants_and_values_are_those_the_chapter_glues():
    """SHOWN_CONSTANTS and SHOWN_VALUES name the formats book/setting.md shows each value with,
    and every number the prose shows with a format is one of them or is not an exact value
    (a tolerance, a float64 error, the radius of a proof)."""
    import pathlib
    import re

    text = (pathlib.Path(setting.__file__).parents[2] / "book" / "setting.md").read_text()
    pairs = re.findall(r"\{glue:text\}`(\w+):([.\w]+)`", text)
    shown = dict(pairs)
    assert len(shown) == len(set(pairs)), "each value is shown with one format"
    assert {k: fmt for k, (_, fmt) in setting.SHOWN_CONSTANTS.items()} == {k: shown[k] for k in setting.SHOWN_CONSTANTS}
    assert setting.SHOWN_VALUES == {k: shown[k] for k in setting.SHOWN_VALUES}
    not_exact = {"error_floor", "tol64", "tol32", "moderate_factor", "worst_stable", "proof_rel_worst"}
    assert set(shown) == set(setting.SHOWN_CONSTANTS) | set(setting.SHOWN_VALUES) | not_exact
