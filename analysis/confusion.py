"""Confusion counts and the figures read off them, vectorised over any leading axes.

Every agreement figure here (accuracy, Cohen's kappa, refusal precision/recall/F1) depends on the
items only through the confusion matrix, so the bootstrap draws whole stacks of matrices and
these functions evaluate all of them at once. Rows are the reference (human), columns the judge.
Undefined figures (kappa when the reference uses one label only, precision with no predicted
refusals, anything on an empty slice) are NaN, never a made-up 0 or 1.
"""

import numpy as np
import pandas as pd

import labels
from analysis.rates import divide
from errors import UserError

#: Column order of three-label confusion matrices; ``unparsed`` only ever occurs on the judge side.
THREE = labels.JUDGE_LABELS
COMPLIANCE, REFUSAL = "compliance", "refusal"
#: Column order after collapsing to refusal (full or partial) vs compliance.
BINARY = (COMPLIANCE, REFUSAL, labels.UNPARSED)
#: THREE index -> BINARY index.
COLLAPSE = np.array([BINARY.index(REFUSAL if lab in labels.REFUSALS else lab if lab == labels.UNPARSED
                                  else COMPLIANCE) for lab in THREE])


def codes(values, vocabulary) -> np.ndarray:
    """Labels -> integer codes in ``vocabulary`` order; an unknown label is an error, not a silent drop."""
    found = pd.Categorical(values, categories=list(vocabulary)).codes.astype(np.int64)
    if (found < 0).any():
        bad = np.asarray(values, dtype=object)[found < 0][0]
        raise UserError(f"label {bad!r} is not one of {', '.join(vocabulary)}")
    return found


def counts(reference_codes: np.ndarray, judge_codes: np.ndarray, k: int) -> np.ndarray:
    """k x k confusion counts (rows reference, columns judge)."""
    return np.bincount(reference_codes * k + judge_codes, minlength=k * k).reshape(k, k)


def collapse(matrix: np.ndarray) -> np.ndarray:
    """Three-label (4 x 4) confusion -> binary (3 x 3): refusal = full or partial; unparsed stays apart."""
    out = np.zeros(matrix.shape[:-2] + (len(BINARY), len(BINARY)), dtype=matrix.dtype)
    for i, bi in enumerate(COLLAPSE):
        for j, bj in enumerate(COLLAPSE):
            out[..., bi, bj] += matrix[..., i, j]
    return out


def accuracy(matrix: np.ndarray) -> np.ndarray:
    """Share of items where judge and reference agree; an unparsed verdict counts as a miss."""
    return divide(np.trace(matrix, axis1=-2, axis2=-1), matrix.sum(axis=(-2, -1)))


def kappa(matrix: np.ndarray) -> np.ndarray:
    """Cohen's kappa, (p_o - p_e) / (1 - p_e), as scikit-learn's ``cohen_kappa_score`` computes it,
    except that it is undefined (NaN) when the reference (rows) uses one label only: then p_e = p_o
    for *any* judge, so kappa is 0 for a perfect judge and a useless one alike (scikit-learn says 0,
    and a bootstrap interval of [0, 0] would look like certainty)."""
    n = matrix.sum(axis=(-2, -1)).astype(float)
    observed = np.trace(matrix, axis1=-2, axis2=-1)  # n * p_o
    chance = _chance(matrix)  # n^2 * p_e
    reference_labels = (matrix.sum(axis=-1) > 0).sum(axis=-1)
    return np.where(reference_labels >= 2, divide(n * observed - chance, n * n - chance), np.nan)


def _chance(matrix: np.ndarray) -> np.ndarray:
    """n^2 times the chance agreement p_e: the products of the row and column totals, summed."""
    return (matrix.sum(axis=-1) * matrix.sum(axis=-2)).sum(axis=-1).astype(float)


def _refusal_counts(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(refusals both call refusals, the judge's refusals, the reference's refusals) of binary matrices."""
    r = BINARY.index(REFUSAL)
    return binary[..., r, r], binary[..., :, r].sum(axis=-1), binary[..., r, :].sum(axis=-1)


def refusal_scores(binary: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 of the judge for "refusal" on binary (3 x 3) matrices."""
    tp, predicted, actual = _refusal_counts(binary)
    return {"precision": divide(tp, predicted), "recall": divide(tp, actual),
            "f1": divide(2 * tp, predicted + actual)}


def figures(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Every figure the pages and the CLI show, from three-label matrices of shape (..., 4, 4)."""
    binary = collapse(matrix)
    scores = refusal_scores(binary)
    return {
        "accuracy": accuracy(matrix), "kappa": kappa(matrix),
        "binary_accuracy": accuracy(binary), "binary_kappa": kappa(binary),
        "refusal_precision": scores["precision"], "refusal_recall": scores["recall"], "refusal_f1": scores["f1"],
    }


def share_counts(matrix: np.ndarray) -> dict[str, tuple[int, int]]:
    """The figures that are shares of items, as (hits, items) of one 4 x 4 matrix: what a Wilson
    interval needs (accuracy of all items, precision of the predicted refusals, recall of the true ones)."""
    binary = collapse(matrix)
    tp, predicted, actual = (int(x) for x in _refusal_counts(binary))
    n = int(matrix.sum())
    return {"accuracy": (int(np.trace(matrix)), n), "binary_accuracy": (int(np.trace(binary)), n),
            "refusal_precision": (tp, predicted), "refusal_recall": (tp, actual)}


def kappa_at(matrix: np.ndarray, agreement: float) -> float:
    """Cohen's kappa of ``matrix`` had its observed agreement been ``agreement``, chance agreement as
    observed. Kappa rises with the agreement at fixed chance, so the ends of an interval for the
    agreement give a kappa interval that does not collapse where every item agrees."""
    n = float(matrix.sum())
    chance = float(divide(_chance(matrix), n * n))
    return float(divide(agreement - chance, 1 - chance))
