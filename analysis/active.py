"""Which responses to label next ("most informative first"), drawn so that corrected rates stay unbiased.

A batch is a random sample whose inclusion probabilities ``pi`` are known exactly and recorded with
it. They favour responses the learned judge is unsure about, because a label there corrects the
most: active statistical inference (Zrnic & Candes 2024) shows the variance of the corrected rate is
smallest when pi is proportional to the square root of the judge's expected squared error,
sqrt(1 - sum_k p_k^2) for class probabilities p (2 p (1 - p) with two classes). Weighting each label
by 1 / pi (``label_weights``, then ``rates.ipw``) undoes the preference exactly.

Three shares make up the expected batch: ``UNCERTAINTY`` in proportion to that square root,
``SPREAD`` evenly over strata (model x category, so no model or category is left without labels) and
the rest uniformly over responses. The uniform parts keep every pi above a floor, which bounds the
1 / pi weights even where the judge is confidently wrong. A response that already has a human label
gets no uncertainty share (its label teaches the judge nothing new) but keeps the floor: it may be
drawn again, and then counts as labelled without anyone looking at it again.

The draw is systematic sampling over the responses sorted by stratum, in random order within each:
the batch has exactly ``n`` responses, each included with probability exactly ``pi``, and strata
get their share (implicit stratification). The batch is returned in random order: if reviewers
label only its first m of n, those m are still a sample with known probabilities pi * m / n.
"""

import numpy as np
import pandas as pd

UNCERTAINTY, SPREAD = 0.6, 0.2  # shares of the batch; the remaining 0.2 is uniform over responses


def uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """sqrt(1 - sum_k p_k^2) per row of class probabilities: the root of the judge's expected squared
    error; 0 when sure, largest when every class is equally likely."""
    p = np.asarray(probabilities, dtype=float)
    return np.sqrt(np.clip(1 - (p ** 2).sum(axis=1), 0, None))


def inclusion_probabilities(score: np.ndarray, strata: np.ndarray, n: int,
                            shares: tuple[float, float] = (UNCERTAINTY, SPREAD)) -> np.ndarray:
    """pi per response (sum n, each in (0, 1]) from ``score`` (uncertainty; 0 where nothing is to be
    learnt) and a stratum code per response."""
    score = np.asarray(score, dtype=float)
    count = len(score)
    if n >= count:
        return np.ones(count)
    if n <= 0:
        raise ValueError(f"batch size must be positive, got {n}")
    strata = pd.factorize(np.asarray(strata, dtype=object))[0]
    per_stratum = np.bincount(strata)[strata]
    share_u, share_s = shares
    if score.sum() <= 0:  # nothing to favour (no judge yet): its share goes to the uniform part
        share_u = 0.0
    weight = (share_u * score / (score.sum() or 1) + share_s / ((strata.max() + 1) * per_stratum)
              + (1 - share_u - share_s) / count)
    return _cap(weight, n)


def _cap(weight: np.ndarray, n: int) -> np.ndarray:
    """n * weight / sum(weight), with any share above 1 set to 1 (taken for sure) and the rest
    rescaled to sum to what is left."""
    pi = n * weight / weight.sum()
    while (pi > 1).any():
        full = pi >= 1
        pi[full] = 1.0
        pi[~full] = weight[~full] * (n - full.sum()) / weight[~full].sum()
    return pi


def systematic(pi: np.ndarray, strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of a systematic sample: response i is included with probability exactly pi[i]."""
    pi = np.asarray(pi, dtype=float)
    order = np.lexsort((rng.random(len(pi)), pd.factorize(np.asarray(strata, dtype=object))[0]))
    edges = np.concatenate([[0.0], np.cumsum(pi[order])])
    n = round(edges[-1])
    points = rng.random() + np.arange(n)
    chosen = np.searchsorted(edges, points, side="right") - 1
    return order[np.clip(chosen, 0, len(pi) - 1)]


def draw(pool: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """The next batch from ``pool`` (one row per response: response_id, uncertainty, labelled, and
    the stratum columns model and category): response_id, pi, labelled, in random order."""
    rng = np.random.default_rng(seed)
    strata = pool["model"].astype(str) + "\x00" + pool["category"].astype(str)
    score = np.where(pool["labelled"].to_numpy(bool), 0.0, pool["uncertainty"].fillna(0).to_numpy(float))
    pi = inclusion_probabilities(score, strata.to_numpy(), n)
    chosen = rng.permutation(systematic(pi, strata.to_numpy(), rng))
    out = pool.iloc[chosen][["response_id", "labelled"]].reset_index(drop=True)
    out.insert(1, "pi", pi[chosen])
    return out


def label_weights(batches: pd.DataFrame) -> pd.Series:
    """1 / pi weight per labelled response, averaged over batches: ``batches`` has one row per drawn
    response (batch, response_id, pi, labelled). A batch counts with its labelled share m / n
    (pi scaled by it); a batch with no label is left out. Responses never drawn weigh 0."""
    frame = batches[["batch", "response_id", "pi", "labelled"]].copy()
    size = frame.groupby("batch")["response_id"].transform("size")
    done = frame.groupby("batch")["labelled"].transform("sum")
    frame = frame[done > 0]
    effective = frame["pi"] * done[done > 0] / size[done > 0]
    used = frame["batch"].nunique()
    frame = frame.assign(weight=np.where(frame["labelled"], 1 / effective, 0.0) / max(used, 1))
    return frame[frame["labelled"]].groupby("response_id")["weight"].sum()
