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

Estimates and interval ends are clipped to [0, 1] for display (clipping can only help coverage).
"""

import numpy as np

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


def ppi(judged_n, judged_sum, judged_squares, reviewed_n, rectifier_sum, rectifier_squares
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prediction-powered mean and 95% CLT interval from sums, vectorised over slices.

    judged_*: count, sum and sum of squares of the judge's predictions f on every judged item;
    reviewed_n, rectifier_*: the same for (human - f) on the reviewed items. Undefined (NaN) with
    no reviewed item; the interval needs two of each.
    """
    estimate = divide(judged_sum, judged_n) + divide(rectifier_sum, reviewed_n)
    se = np.sqrt(divide(_variance(judged_sum, judged_squares, judged_n), judged_n)
                 + divide(_variance(rectifier_sum, rectifier_squares, reviewed_n), reviewed_n))
    return _clipped_interval(estimate, se)


def ipw(n, psi_sum, psi_squares) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Active (inverse-probability-weighted) mean and 95% CLT interval from the count, sum and sum
    of squares of psi = f + w (human - f) over every item, vectorised over slices."""
    return _clipped_interval(divide(psi_sum, n), np.sqrt(divide(_variance(psi_sum, psi_squares, n), n)))


def _clipped_interval(estimate, se):
    clip = lambda x: np.clip(x, 0.0, 1.0)  # noqa: E731
    return clip(estimate), clip(estimate - Z * se), clip(estimate + Z * se)
