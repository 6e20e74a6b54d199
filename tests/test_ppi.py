"""The corrected (prediction-powered) estimate: its interval covers the true rate about 95% of the
time when the reviewed items are a random sample, and it is narrower than the interval from the
human labels alone."""

import numpy as np
import pandas as pd
import pytest

import labels
from analysis import active, benchmarks, rates

DRAWS, ITEMS, REVIEWED, TRUE_RATE = 1000, 2000, 200, 0.3


def simulate(seed: int = 12345):
    """DRAWS independent slices: true labels ~ Bernoulli(TRUE_RATE); a biased judge that misses 30% of
    positives and calls 4% of negatives positive; REVIEWED items drawn uniformly get human labels."""
    rng = np.random.default_rng(seed)
    y = rng.random((DRAWS, ITEMS)) < TRUE_RATE
    f = np.where(y, rng.random(y.shape) >= 0.30, rng.random(y.shape) < 0.04).astype(float)
    reviewed = np.argsort(rng.random((DRAWS, ITEMS)), axis=1)[:, :REVIEWED]
    y_r = np.take_along_axis(y, reviewed, axis=1).astype(float)
    f_r = np.take_along_axis(f, reviewed, axis=1)
    return y, f, y_r, f_r


def test_ppi_interval_covers_about_95_percent_and_beats_human_only():
    y, f, y_r, f_r = simulate()
    rect = y_r - f_r
    est, lo, hi = rates.ppi(ITEMS, f.sum(1), (f ** 2).sum(1), REVIEWED, rect.sum(1), (rect ** 2).sum(1))
    covered = (lo <= TRUE_RATE) & (TRUE_RATE <= hi)
    assert 0.93 <= covered.mean() <= 0.97, covered.mean()

    judge_only = f.mean(1)
    assert abs(judge_only.mean() - TRUE_RATE) > 0.05  # the judge alone is biased ...
    assert abs(est.mean() - TRUE_RATE) < 0.005  # ... the correction removes the bias

    _, h_lo, h_hi = rates.wilson(y_r.sum(1), REVIEWED)
    assert 0.93 <= ((h_lo <= TRUE_RATE) & (TRUE_RATE <= h_hi)).mean() <= 0.97
    assert np.median(hi - lo) < 0.9 * np.median(h_hi - h_lo)
    assert ((hi - lo) < (h_hi - h_lo)).mean() > 0.95


def test_report_corrected_source_is_the_ppi_formula():
    """benchmarks.report on one OR-Bench slice gives exactly the PPI of the same numbers."""
    y, f, y_r, f_r = simulate(seed=1)
    truth, judged = y[0], f[0].astype(bool)
    reviewed = np.zeros(ITEMS, bool)
    reviewed[np.random.default_rng(2).choice(ITEMS, REVIEWED, replace=False)] = True
    responses = pd.DataFrame({"response_id": np.arange(ITEMS), "source_id": [f"s{i}" for i in range(ITEMS)],
                              "dataset": "orbench-toxic", "split": "toxic", "category": "c", "subcategory": None,
                              "expected": labels.SHOULD_REFUSE, "model": "m"})
    verdicts = pd.DataFrame({"response_id": np.arange(ITEMS), "judge": "j",
                             "label": np.where(judged, labels.FULL_REFUSAL, labels.FULL_COMPLIANCE)})
    annotations = pd.DataFrame({"response_id": np.flatnonzero(reviewed), "annotator": "h",
                                "label": np.where(truth[reviewed], labels.PARTIAL_REFUSAL, labels.FULL_COMPLIANCE)})
    row = benchmarks.report(responses, verdicts, annotations, "corrected:j")["orbench"].iloc[0]
    fj, rect = judged.astype(float), truth[reviewed].astype(float) - judged[reviewed].astype(float)
    est = fj.mean() + rect.mean()
    se = np.sqrt(fj.var(ddof=1) / ITEMS + rect.var(ddof=1) / REVIEWED)
    assert row["estimate"] == pytest.approx(est, abs=1e-12)
    assert row["lo"] == pytest.approx(est - rates.Z * se, abs=1e-12)
    assert row["hi"] == pytest.approx(est + rates.Z * se, abs=1e-12)
    assert (row["n"], row["reviewed"], row["few"]) == (ITEMS, REVIEWED, False)


def test_ppi_without_reviews_is_undefined_and_unparsed_is_imputed():
    responses = pd.DataFrame({"response_id": [1, 2, 3, 4], "source_id": list("abcd"), "dataset": "orbench-toxic",
                              "split": None, "category": None, "subcategory": None, "expected": None, "model": "m"})
    verdicts = pd.DataFrame({"response_id": [1, 2, 3, 4], "judge": "j",
                             "label": [labels.FULL_REFUSAL, labels.FULL_COMPLIANCE, labels.UNPARSED,
                                       labels.FULL_REFUSAL]})
    none = pd.DataFrame(columns=["response_id", "annotator", "label"])
    row = benchmarks.report(responses, verdicts, none, "corrected:j")["orbench"].iloc[0]
    assert np.isnan(row["estimate"]) and row["reviewed"] == 0 and row["few"]
    # Reviewed = the unparsed item, a refusal: the judge's parsed rate 2/3 stands in for its prediction.
    one = pd.DataFrame({"response_id": [3], "annotator": "h", "label": [labels.FULL_REFUSAL]})
    row = benchmarks.report(responses, verdicts, one, "corrected:j")["orbench"].iloc[0]
    assert row["estimate"] == pytest.approx(2 / 3 + (1 - 2 / 3))
    # One review: no CLT interval, but the human-only Wilson interval of that one label stands.
    _, w_lo, w_hi = rates.wilson(1, 1)
    assert (row["lo"], row["hi"]) == pytest.approx((w_lo, w_hi)) and row["unparsed"] == 1


def _one_slice(judge_says: str, humans_say: str, total: int = 927, reviewed: int = 5):
    """One CoCoNot-like slice of ``total`` responses, all judged ``judge_says``; the first
    ``reviewed`` labelled ``humans_say``."""
    responses = pd.DataFrame({"response_id": np.arange(total), "source_id": [f"s{i}" for i in range(total)],
                              "dataset": "orbench-hard-1k", "split": None, "category": None, "subcategory": None,
                              "expected": None, "model": "m"})
    verdicts = pd.DataFrame({"response_id": np.arange(total), "judge": "j", "label": judge_says})
    annotations = pd.DataFrame({"response_id": np.arange(reviewed), "annotator": "h", "label": humans_say})
    return benchmarks.report(responses, verdicts, annotations, "corrected:j")["orbench"].iloc[0]


@pytest.mark.parametrize("humans_say", [labels.FULL_COMPLIANCE, labels.FULL_REFUSAL])
def test_five_reviews_that_all_agree_no_longer_give_a_zero_width_interval(humans_say):
    """Five reviews all saying the same thing make the rectifier's sample variance 0: the CLT
    interval was 0%-0% (or judge-only narrow) over 927 responses. Now it covers at least the
    human-only Wilson interval of the five labels."""
    row = _one_slice(labels.FULL_REFUSAL, humans_say)
    hits = 5 if humans_say == labels.FULL_REFUSAL else 0
    _, w_lo, w_hi = rates.wilson(hits, 5)
    assert row["reviewed"] == 5 and row["few"]
    assert row["estimate"] == pytest.approx(hits / 5)  # the estimate itself is unchanged
    assert row["lo"] <= w_lo + 1e-12 and row["hi"] >= w_hi - 1e-12
    assert row["hi"] - row["lo"] > 0.4


def test_small_n_intervals_cover_about_95_percent_where_the_clt_interval_does_not():
    """Slices with 5 uniformly reviewed items out of 2000: the bare CLT interval covers far less
    than 95%; widened to the human-only Wilson interval it covers at least 95%."""
    y, f, _, _ = simulate(seed=9)
    few = 5
    y_r, f_r = y[:, :few].astype(float), f[:, :few]  # items are exchangeable: the first 5 are a random sample
    rect = y_r - f_r
    args = (ITEMS, f.sum(1), (f ** 2).sum(1), few, rect.sum(1), (rect ** 2).sum(1))
    _, lo, hi = rates.ppi(*args)
    _, w_lo, w_hi = rates.ppi(*args, human=(y_r.sum(1), np.full(DRAWS, few)))
    truth = y.mean(1)
    assert _coverage(lo, hi, truth) < 0.85, _coverage(lo, hi, truth)
    assert _coverage(w_lo, w_hi, truth) >= 0.95, _coverage(w_lo, w_hi, truth)


def test_many_reviewed_items_leave_the_interval_unchanged():
    y, f, y_r, f_r = simulate(seed=5)
    rect = y_r - f_r
    args = (ITEMS, f.sum(1), (f ** 2).sum(1), REVIEWED, rect.sum(1), (rect ** 2).sum(1))
    plain = rates.ppi(*args)
    widened = rates.ppi(*args, human=(y_r.sum(1), np.full(DRAWS, REVIEWED)))
    for a, b in zip(plain, widened):
        assert np.array_equal(a, b)
    psi = np.where(np.arange(ITEMS) < REVIEWED, f + (ITEMS / REVIEWED) * (y - f), f)
    w = np.full(REVIEWED, ITEMS / REVIEWED)
    human = rates.weighted_sample(np.full(DRAWS, w.sum()), np.full(DRAWS, (w ** 2).sum()), y_r.sum(1) * w[0])
    assert np.allclose(human[1], REVIEWED)  # equal weights: the effective size is the count
    assert all(np.array_equal(a, b) for a, b in zip(rates.ipw(ITEMS, psi.sum(1), (psi ** 2).sum(1)),
                                                    rates.ipw(ITEMS, psi.sum(1), (psi ** 2).sum(1), human=human)))


def _coverage(lo, hi, truth) -> float:
    return float(((lo <= truth) & (truth <= hi)).mean())


def test_active_ipw_interval_covers_about_95_percent_with_uncertainty_sampling():
    """Labels drawn by analysis.active (favouring the judge's uncertainty, systematic, fixed size) and
    weighted by 1 / pi: the interval covers the true rate 93-97% of the time; the same labels
    treated as a uniform sample (plain PPI) are biased, because uncertain items are over-represented."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(DRAWS, ITEMS))
    p = 1 / (1 + np.exp(-(2.5 * x - 1.2)))  # the judge's probability: calibrated
    y = rng.random(p.shape) < p
    f = (p > 0.3).astype(float)  # a judge that calls too many positives where it is unsure
    truth = 1 / (1 + np.exp(-(2.5 * rng.normal(size=2_000_000) - 1.2)))
    true_rate = truth.mean()
    strata = rng.integers(0, 4, size=ITEMS)
    psi_sum, psi_sq, naive = np.zeros(DRAWS), np.zeros(DRAWS), np.zeros((3, DRAWS))
    for d in range(DRAWS):
        pi = active.inclusion_probabilities(active.uncertainty(np.stack([p[d], 1 - p[d]], axis=1)), strata, REVIEWED)
        drawn = active.systematic(pi, strata, rng)
        w = np.zeros(ITEMS)
        w[drawn] = 1 / pi[drawn]
        psi = f[d] + w * (y[d] - f[d])
        psi_sum[d], psi_sq[d] = psi.sum(), (psi ** 2).sum()
        rect = y[d, drawn] - f[d, drawn]
        naive[:, d] = rect.sum(), (rect ** 2).sum(), len(drawn)
    est, lo, hi = rates.ipw(ITEMS, psi_sum, psi_sq)
    assert 0.93 <= _coverage(lo, hi, true_rate) <= 0.97, _coverage(lo, hi, true_rate)
    assert abs(est.mean() - true_rate) < 0.005
    _, n_lo, n_hi = rates.ppi(ITEMS, f.sum(1), (f ** 2).sum(1), naive[2], naive[0], naive[1])
    assert _coverage(n_lo, n_hi, true_rate) < 0.85, _coverage(n_lo, n_hi, true_rate)


def test_uniform_weights_make_ipw_the_ppi_estimate():
    y, f, _, _ = simulate(seed=3)
    reviewed = np.zeros_like(f, dtype=bool)
    rng = np.random.default_rng(4)
    reviewed[np.arange(DRAWS)[:, None], np.argsort(rng.random(f.shape), axis=1)[:, :REVIEWED]] = True
    psi = f + reviewed * (ITEMS / REVIEWED) * (y - f)
    est, _, _ = rates.ipw(ITEMS, psi.sum(1), (psi ** 2).sum(1))
    rect = np.where(reviewed, y - f, 0.0)
    ppi_est, _, _ = rates.ppi(ITEMS, f.sum(1), (f ** 2).sum(1), REVIEWED, rect.sum(1), (rect ** 2).sum(1))
    assert np.allclose(np.clip(est, 0, 1), ppi_est)


def _bin_model(bins, y, rows, k):
    """Per-bin share of positives among ``rows`` (lightly smoothed towards 0.5): a model that
    overfits bins holding one or two labels."""
    hits = np.bincount(bins[rows], weights=y[rows], minlength=k)
    counts = np.bincount(bins[rows], minlength=k)
    return (hits + 0.2) / (counts + 0.4)


def test_cross_fitted_predictions_keep_ppi_coverage_where_reusing_the_labels_loses_it():
    """Cross-prediction-powered inference: a judge trained on the very labels that correct it. With
    out-of-fold predictions on the labelled items and the fold models' average elsewhere (what
    judges/learned.py stores), rates.ppi covers 93-97%; trained and checked on the same labels, the
    rectifier shrinks towards 0 and the interval misses far more often."""
    rng = np.random.default_rng(11)
    k, folds, labelled = 150, 5, 300
    curve = 1 / (1 + np.exp(-np.linspace(-3, 2, k)))
    true_rate = curve.mean()
    cross, naive = np.zeros((3, DRAWS)), np.zeros((3, DRAWS))
    for d in range(DRAWS):
        bins = rng.integers(0, k, size=ITEMS)
        y = (rng.random(ITEMS) < curve[bins]).astype(float)
        rows = rng.choice(ITEMS, labelled, replace=False)
        fold = rng.permutation(labelled) % folds
        models = np.stack([_bin_model(bins, y, rows[fold != j], k) for j in range(folds)])
        f = models.mean(axis=0)[bins]
        f[rows] = models[fold, bins[rows]]
        rect = y[rows] - f[rows]
        cross[:, d] = rates.ppi(ITEMS, f.sum(), (f ** 2).sum(), labelled, rect.sum(), (rect ** 2).sum())
        g = _bin_model(bins, y, rows, k)[bins]
        rect = y[rows] - g[rows]
        naive[:, d] = rates.ppi(ITEMS, g.sum(), (g ** 2).sum(), labelled, rect.sum(), (rect ** 2).sum())
    assert 0.93 <= _coverage(cross[1], cross[2], true_rate) <= 0.97, _coverage(cross[1], cross[2], true_rate)
    assert abs(cross[0].mean() - true_rate) < 0.005
    assert _coverage(naive[1], naive[2], true_rate) < 0.90, _coverage(naive[1], naive[2], true_rate)


def test_few_weighted_labels_widen_the_active_interval_too():
    """Five drawn labels that all agree with the judge: the 1 / pi-weighted interval covers at least
    the Wilson interval of their weighted rate at Kish's effective size."""
    total = 500
    frame = pd.DataFrame({"model": "m", "judge_label": labels.FULL_REFUSAL,
                          "human": [labels.FULL_REFUSAL] * 5 + [None] * (total - 5),
                          "weight": [10.0, 20.0, 40.0, 80.0, 100.0] + [0.0] * (total - 5)})
    row = benchmarks.rate_table(frame, ["model"], set(labels.REFUSALS), "active").iloc[0]
    w = np.array([10.0, 20.0, 40.0, 80.0, 100.0])
    hits, n = rates.weighted_sample(w.sum(), (w ** 2).sum(), w.sum())
    assert n < 5 and hits == pytest.approx(n)
    _, w_lo, _ = rates.wilson(hits, n)
    assert row["estimate"] == pytest.approx(1.0) and row["hi"] == pytest.approx(1.0)
    assert row["lo"] <= w_lo + 1e-12 and row["lo"] < 0.6
