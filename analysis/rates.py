"""Intervals for rates: Wilson for a plain share, prediction-powered inference for a judge's share
corrected by human labels, and its inverse-probability-weighted form for labels drawn with known,
unequal probabilities.

Prediction-powered inference (Angelopoulos et al., 2023) estimates the true rate of a slice as
    mean of the judge's predictions f over all N judged items
  + mean of the rectifier (human - f) over the n human-reviewed items,
the second term removing the judge's bias as measured where humans looked. Its standard error is
sqrt(var(f)/N + var(human - f)/n), so it is much narrower than the human-only interval whenever the
judge is good, and it stays unbiased when the judge is not. It ASSUMES the reviewed items are a
uniform random sample of the slice: if reviewers picked the hard or the disputed items, the
rectifier measures the judge's bias on those, not on the slice, and the interval means nothing.

When the labels were drawn with known unequal probabilities pi ("most informative first",
analysis/active.py), active statistical inference (Zrnic & Candes 2024) weights each rectifier by
1 / pi: the mean over all N items of psi = f + (human - f) * w, where w = 1 / pi on drawn and
labelled items and 0 elsewhere (``active.label_weights``), is unbiased whatever the pi, and its
standard error is sd(psi) / sqrt(N) (``ipw``). With uniform pi = n / N it is the estimate above.

When the judge was trained on the very labels that correct it (the learned judge), its predictions
on those labels are out-of-fold and everywhere else the average of the fold models (judges/learned.py):
that is cross-prediction-powered inference (Zrnic & Candes 2024), and both formulas here apply to it
unchanged; fitted on all labels and checked on the same ones, the correction would be too small
and the interval too narrow (tests/test_ppi.py shows both).

Both intervals are CLT intervals, and with few reviewed items the CLT does not hold: five reviews
that all disagree the same way with the judge give a rectifier of sample variance 0, and the interval
collapses to a point (0%-0% over 927 responses) although five labels cannot pin a rate down. So below
``bootstrap.MIN_ITEMS`` reviewed items in a slice, each interval is widened to cover at least the
human-only Wilson interval on the reviewed items (``human=``), which is valid at any n: the union
covers the true rate whenever the Wilson interval does, so coverage is at least Wilson's, and from
``MIN_ITEMS`` on the interval is the CLT one unchanged. The estimate itself is not touched (it stays
unbiased). For ``ipw`` the labels are not a uniform sample, so its human-only interval is the Wilson
interval of their 1 / pi-weighted (Hajek) rate at Kish's effective sample size (sum w)^2 / sum w^2, the
usual small-sample interval for a proportion from weighted survey data (Korn & Graubard 1998).

Estimates and interval ends are clipped to [0, 1] for display (clipping can only help coverage).
"""

import numpy as np

from analysis.bootstrap import MIN_ITEMS

Z = 1.959963984540054  # two-sided 95% normal quantile


def divide(num, den):
    """num / den elementwise, NaN where den is 0: an undefined figure stays undefined."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def wilson(hits, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Share hits/n with its 95% Wilson score interval (sensible at 0%, 100% and small n)."""
    n = np.asarray(n, dtype=float)
    p = divide(hits, n)
    z2n = divide(Z * Z, n)
    centre = (p + z2n / 2) / (1 + z2n)
    half = Z * np.sqrt(p * (1 - p) * divide(1, n) + z2n * divide(1, 4 * n)) / (1 + z2n)
    return p, centre - half, centre + half


def _variance(total, squares, n):
    """Sample variance (ddof=1) from sums."""
    return divide(np.asarray(squares, float) - divide(np.asarray(total, float) ** 2, n), np.asarray(n, float) - 1)


def ppi(judged_n, judged_sum, judged_squares, reviewed_n, rectifier_sum, rectifier_squares, human=None
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prediction-powered mean and 95% CLT interval from sums, vectorised over slices.

    judged_*: count, sum and sum of squares of the judge's predictions f on every judged item;
    reviewed_n, rectifier_*: the same for (human - f) on the reviewed items. Undefined (NaN) with
    no reviewed item; the interval needs two of each. ``human``: (hits, n) of the human labels on
    the reviewed items; where n < MIN_ITEMS the interval is widened to cover their Wilson interval
    (see the module docstring). Every caller should pass it.
    """
    estimate = divide(judged_sum, judged_n) + divide(rectifier_sum, reviewed_n)
    se = np.sqrt(divide(_variance(judged_sum, judged_squares, judged_n), judged_n)
                 + divide(_variance(rectifier_sum, rectifier_squares, reviewed_n), reviewed_n))
    return _clipped_interval(estimate, se, human)


def ipw(n, psi_sum, psi_squares, human=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Active (inverse-probability-weighted) mean and 95% CLT interval from the count, sum and sum
    of squares of psi = f + w (human - f) over every item, vectorised over slices. ``human``:
    (hits, n) of the labels at their effective sample size (``weighted_sample``); where n < MIN_ITEMS
    the interval is widened to cover their Wilson interval."""
    return _clipped_interval(divide(psi_sum, n), np.sqrt(divide(_variance(psi_sum, psi_squares, n), n)), human)


def weighted_sample(weight_sum, weight_squares, weighted_hits) -> tuple[np.ndarray, np.ndarray]:
    """(hits, n) of 1 / pi-weighted labels as an equivalent unweighted sample: the Hajek rate
    sum(w h) / sum(w) at Kish's effective size (sum w)^2 / sum(w^2)."""
    n = divide(np.asarray(weight_sum, float) ** 2, weight_squares)
    return divide(weighted_hits, weight_sum) * n, n


def _clipped_interval(estimate, se, human=None):
    clip = lambda x: np.clip(x, 0.0, 1.0)  # noqa: E731
    lo, hi = estimate - Z * se, estimate + Z * se
    if human is not None:
        hits, n = (np.asarray(v, dtype=float) for v in human)
        _, w_lo, w_hi = wilson(hits, n)
        small = (n < MIN_ITEMS) & ~np.isnan(w_lo) & ~np.isnan(estimate)
        # A CLT interval needs two reviewed items; below that it is the Wilson interval alone.
        lo = np.where(small, np.fmin(lo, w_lo), lo)
        hi = np.where(small, np.fmax(hi, w_hi), hi)
    return clip(estimate), clip(lo), clip(hi)

