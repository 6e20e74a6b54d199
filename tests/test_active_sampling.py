"""The "most informative first" queue (analysis/active.py): batches drawn with known inclusion
probabilities that favour the judge's uncertainty and spread over strata, and the 1 / pi weights
that keep corrected rates unbiased; and the learning curve (analysis/learning_curve.py)."""

import numpy as np
import pandas as pd
import pytest

import labels
from analysis import active, learning_curve


def pool(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    return pd.DataFrame({"response_id": np.arange(n) + 1000, "model": rng.choice(["a", "b"], n, p=[0.9, 0.1]),
                         "category": rng.choice(["x", "y", "z"], n, p=[0.8, 0.15, 0.05]),
                         "uncertainty": active.uncertainty(np.stack([p, 1 - p], axis=1)),
                         "labelled": rng.random(n) < 0.1})


def test_uncertainty_is_largest_when_the_judge_cannot_tell():
    u = active.uncertainty(np.array([[0.5, 0.5], [1.0, 0.0], [0.9, 0.1]]))
    assert u[1] == 0 and u[0] > u[2] > 0 and u[0] == pytest.approx(np.sqrt(0.5))
    three = active.uncertainty(np.array([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]]))
    assert three[0] == pytest.approx(np.sqrt(2 / 3)) and three[0] > three[1]


def test_a_batch_has_n_distinct_responses_with_their_inclusion_probabilities():
    frame = pool()
    batch = active.draw(frame, 40, seed=1)
    assert len(batch) == 40 and batch["response_id"].is_unique
    assert set(batch["response_id"]) <= set(frame["response_id"])
    strata = (frame["model"] + "\x00" + frame["category"]).to_numpy()
    score = np.where(frame["labelled"], 0.0, frame["uncertainty"])
    pi = pd.Series(active.inclusion_probabilities(score, strata, 40), index=frame["response_id"])
    assert np.allclose(batch["pi"], pi[batch["response_id"]].to_numpy())
    assert pi.sum() == pytest.approx(40) and (pi > 0).all() and (pi <= 1).all()
    pd.testing.assert_frame_equal(batch, active.draw(frame, 40, seed=1))  # the same seed, the same batch
    everything = active.draw(frame.iloc[:30], 40, seed=1)
    assert len(everything) == 30 and (everything["pi"] == 1).all()


def test_probabilities_favour_uncertainty_keep_a_floor_and_spread_over_strata():
    frame = pool()
    strata = (frame["model"] + "\x00" + frame["category"]).to_numpy()
    unlabelled = ~frame["labelled"].to_numpy()
    score = np.where(unlabelled, frame["uncertainty"], 0.0)
    pi = active.inclusion_probabilities(score, strata, 40)
    u = frame["uncertainty"].to_numpy()
    unsure, sure = unlabelled & (u > np.quantile(u, 0.9)), unlabelled & (u < np.quantile(u, 0.1))
    assert pi[unsure].mean() > 2 * pi[sure].mean()
    assert pi.min() >= (1 - active.UNCERTAINTY - active.SPREAD) * 40 / len(frame) - 1e-12
    # A labelled response only keeps the floor: less likely than an unlabelled one as unsure as it.
    assert pi[frame["labelled"].to_numpy()].max() < pi[unsure].min()
    # Every stratum gets at least its even share of the spread part, however small it is.
    expected = pd.Series(pi).groupby(strata).sum()
    assert (expected >= active.SPREAD * 40 / len(expected) - 1e-9).all()


def test_systematic_draw_includes_each_response_with_exactly_its_probability():
    rng = np.random.default_rng(5)
    score = rng.random(60) ** 3
    strata = rng.integers(0, 4, 60)
    pi = active.inclusion_probabilities(score, strata, 12)
    draws = 20_000
    hits = np.zeros(60)
    for _ in range(draws):
        hits[active.systematic(pi, strata, rng)] += 1
    z = (hits / draws - pi) / np.sqrt(pi * (1 - pi) / draws)
    assert np.abs(z).max() < 4.5, np.abs(z).max()


def test_label_weights_undo_the_inclusion_probabilities():
    batches = pd.DataFrame({
        "batch": [1, 1, 1, 1, 2, 2, 3],
        "response_id": [10, 11, 12, 13, 10, 14, 15],
        "pi": [0.5, 0.25, 0.1, 0.2, 0.4, 0.8, 0.3],
        "labelled": [True, True, True, True, True, False, False],
    })
    w = active.label_weights(batches)
    # Batch 3 has no label and does not count; batch 2 is half labelled: its pi count at half.
    assert w.to_dict() == pytest.approx({10: (1 / 0.5 + 1 / (0.4 * 0.5)) / 2, 11: 4 / 2, 12: 10 / 2, 13: 5 / 2})


def test_learning_curve_trains_on_nested_sets_and_scores_only_unseen_labels():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"response_id": np.arange(300),
                          "label": rng.choice([labels.FULL_COMPLIANCE, labels.FULL_REFUSAL], 300)})
    seen_before = []

    def predict(train, test):
        """Right with probability n / 300: a judge that improves with labels."""
        assert not set(train["response_id"]) & set(test["response_id"])
        assert not seen_before or set(seen_before[-1]) <= set(train["response_id"])  # nested
        seen_before.append(train["response_id"].tolist())
        right = np.random.default_rng(len(train)).random(len(test)) < len(train) / 300
        other = np.where(test["label"] == labels.FULL_REFUSAL, labels.FULL_COMPLIANCE, labels.FULL_REFUSAL)
        return np.where(right, test["label"], other)

    curve = learning_curve.learning_curve(frame, predict, resamples=200)
    assert curve["labels"].tolist() == [25, 50, 100, 200]
    assert curve["evaluated"].tolist() == [275, 250, 200, 100]
    assert curve["binary_kappa"].is_monotonic_increasing
    assert (curve["kappa_lo"] <= curve["kappa"]).all() and (curve["kappa"] <= curve["kappa_hi"]).all()
    first = learning_curve.order(frame, seed=3).iloc[:4]
    assert sorted(first["label"]) == sorted([labels.FULL_COMPLIANCE] * 2 + [labels.FULL_REFUSAL] * 2)
