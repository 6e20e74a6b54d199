"""How a learned judge's agreement with the humans grows with the number of labels it learns from.

The team sees when more labels stop helping. Each point trains on the first n of one random order
of the labelled responses (so a larger n adds labels to a smaller one's, as labelling does) and is
scored on labelled responses it never saw: the rest of the labels, or a separate ``evaluate`` frame
when one is given (the bench's held-out file). Kappa's interval is the same bootstrap as every other
agreement figure (analysis/agreement.py). Training is a parameter (``predict``), so this module
stays pure statistics and any judge that learns can be plotted.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd

from analysis import agreement, bootstrap

COLUMNS = ["labels", "evaluated", "kappa", "kappa_lo", "kappa_hi", "binary_kappa", "binary_kappa_lo",
           "binary_kappa_hi"]


def default_sizes(total: int, smallest: int = 25) -> list[int]:
    """25, 50, 100, 200, ... while at least ``bootstrap.MIN_ITEMS`` labels are left to score on."""
    sizes, n = [], smallest
    while n <= total - bootstrap.MIN_ITEMS:
        sizes.append(n)
        n *= 2
    return sizes


def order(labelled: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A random order of the labelled responses in which the first two of every label come first,
    so even the smallest training set has two of each (what the learned judge needs)."""
    shuffled = labelled.sample(frac=1.0, random_state=seed)
    first = shuffled.groupby("label", sort=False).head(2)
    return pd.concat([first, shuffled.drop(first.index)]).reset_index(drop=True)


def learning_curve(labelled: pd.DataFrame, predict: Callable[[pd.DataFrame, pd.DataFrame], list],
                   sizes: list[int] | None = None, evaluate: pd.DataFrame | None = None, seed: int = 0,
                   resamples: int = bootstrap.RESAMPLES) -> pd.DataFrame:
    """One row per training size: ``labels``, ``evaluated`` and kappa (three-label and refusal vs
    compliance) with 95% bootstrap intervals. ``labelled`` and ``evaluate`` have a ``label`` column
    (the human reference) and whatever ``predict(train, test)`` reads; it returns test's labels."""
    ranked = order(labelled, seed)
    sizes = sizes or default_sizes(len(ranked) if evaluate is None else len(ranked) + bootstrap.MIN_ITEMS)
    rows = []
    for n in sizes:
        train = ranked.iloc[:n]
        test = ranked.iloc[n:] if evaluate is None else evaluate
        if len(test) == 0 or n > len(ranked):
            continue
        scored = pd.DataFrame({"reference": test["label"].to_numpy(),
                               "judge_label": np.asarray(predict(train, test), dtype=object)})
        figures = agreement.score(scored, resamples=resamples, seed=bootstrap.SEED)
        rows.append({"labels": n, "evaluated": len(test), **{c: figures[c] for c in COLUMNS[2:]}})
    return pd.DataFrame(rows, columns=COLUMNS)
