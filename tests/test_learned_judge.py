"""The learned judge (judges/learned.py): trained on human labels, out-of-fold on them, named by a
hash of what it learnt from, and safe on any text. Its accuracy on real data is checked on
gptfuzz's held-out file (``test_gptfuzz_*``, real data)."""

import re
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

import labels
from analysis import confusion
from judges import learned, overlap, rules, text_features
from tests.conftest import FIXTURES, skip_or_fail

RULES = rules.load_rules()


def styles() -> pd.DataFrame:
    """The hand-labelled fixture sets as (response_id, prompt, response, label)."""
    frames = []
    for name in ("refusal_styles.csv", "xstest_style_heldout.csv", "orbench_style_heldout.csv"):
        raw = pd.read_csv(FIXTURES / name)
        frames.append(pd.DataFrame({"prompt": raw["prompt"], "response": raw["completion"],
                                    "label": raw["final_label"].map(labels.from_xstest)}))
    frame = pd.concat(frames, ignore_index=True).dropna(subset=["label"])
    return frame.assign(response_id=np.arange(len(frame)))[["response_id", "prompt", "response", "label"]]


def binary(frame: pd.DataFrame) -> pd.DataFrame:
    """Refusal vs compliance, as a team that labels only those two would."""
    return frame.assign(label=np.where(frame["label"] == labels.FULL_COMPLIANCE, labels.FULL_COMPLIANCE,
                                       labels.FULL_REFUSAL))


def split(frame: pd.DataFrame, parts: int):
    bounds = np.linspace(0, len(frame), parts + 1).astype(int)
    return (frame.iloc[a:b] for a, b in pairwise(bounds))


def kappa(reference, judged) -> float:
    return float(confusion.kappa(confusion.counts(confusion.codes(reference, labels.LABELS),
                                                  confusion.codes(judged, labels.LABELS), 3)))


@pytest.fixture(scope="module")
def three_class():
    frame = styles()
    return frame, learned.fit(frame.iloc[:300], ruleset=RULES)


def test_three_labels_in_three_classes_with_probabilities(three_class):
    frame, model = three_class
    assert set(frame["label"].iloc[:300]) == set(labels.LABELS)
    assert model.classes == labels.LABELS
    verdicts = model.label(frame)
    assert verdicts["response_id"].tolist() == frame["response_id"].tolist()
    p = verdicts[[f"p_{c}" for c in labels.LABELS]].to_numpy()
    assert np.allclose(p.sum(axis=1), 1)
    assert np.allclose(verdicts["probability"], p.max(axis=1))
    assert (verdicts["label"].to_numpy() == np.array(labels.LABELS, dtype=object)[p.argmax(axis=1)]).all()
    assert np.allclose(verdicts["p_refusal"], p[:, 1] + p[:, 2])
    # Labelled responses carry their fold, the others none.
    assert verdicts["fold"].iloc[:300].between(0, model.folds - 1).all()
    assert verdicts["fold"].iloc[300:].isna().all()


def test_two_labels_make_a_binary_judge():
    frame = binary(styles())
    model = learned.fit(frame.iloc[:200], ruleset=RULES)
    assert model.classes == (labels.FULL_COMPLIANCE, labels.FULL_REFUSAL)
    verdicts = model.label(frame.iloc[200:])
    assert set(verdicts["label"]) <= set(model.classes)
    assert np.allclose(verdicts["p_refusal"], verdicts["p_full_refusal"])
    assert "p_partial_refusal" not in verdicts


def test_labelled_responses_get_out_of_fold_verdicts():
    """Never graded on its homework: with labels that have nothing to do with the text, the verdicts
    on the labelled responses agree with them only by chance, while the same models scoring responses
    they were trained on (what a judge fitted on all labels would show) look far better."""
    frame = styles().iloc[:300]
    noise = frame.assign(label=np.random.default_rng(0).choice([labels.FULL_COMPLIANCE, labels.FULL_REFUSAL], 300))
    model = learned.fit(noise, ruleset=RULES)
    out_of_fold = model.label(noise)
    assert abs(kappa(noise["label"], out_of_fold["label"])) < 0.2
    in_sample = np.array(model.classes)[model.probabilities(learned.features(noise, RULES, model.settings)).argmax(1)]
    assert kappa(noise["label"], in_sample) > 0.5


def test_name_is_a_hash_of_labels_settings_and_rules(three_class):
    frame, model = three_class
    assert re.fullmatch(r"learned:[0-9a-f]{8}", model.name)
    train = frame.iloc[:300]
    assert learned.judge_name(train.iloc[::-1], learned.Settings(), RULES) == model.name  # order does not matter
    assert learned.judge_name(frame.iloc[:301], learned.Settings(), RULES) != model.name  # one more label
    relabelled = train.assign(label=train["label"].where(train.index != 0, labels.PARTIAL_REFUSAL))
    assert learned.judge_name(relabelled, learned.Settings(), RULES) != model.name
    assert learned.judge_name(train, learned.Settings(C=1.0), RULES) != model.name


def test_too_few_labels_is_one_clear_error():
    frame = styles()
    one_kind = frame[frame["label"] == labels.FULL_REFUSAL].iloc[:20]
    with pytest.raises(learned.LabelsError, match="at least two kinds; all 20 are full_refusal"):
        learned.fit(one_kind, ruleset=RULES)
    lonely = pd.concat([one_kind, frame[frame["label"] == labels.FULL_COMPLIANCE].iloc[:1]])
    with pytest.raises(learned.LabelsError, match="'full_compliance' has only one human label"):
        learned.fit(lonely, ruleset=RULES)
    with pytest.raises(learned.LabelsError, match="'maybe' is not one of"):
        learned.fit(one_kind.assign(label="maybe"), ruleset=RULES)


def test_streamed_chunks_give_the_same_verdicts(three_class, monkeypatch):
    frame, model = three_class
    whole = model.label(frame)
    monkeypatch.setattr(learned, "CHUNK_CHARS", 2_000)  # many small internal chunks
    chunked = pd.concat(model.label(part) for part in split(frame, 7))
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), chunked.reset_index(drop=True), atol=1e-5)
    name, stream = learned.fit_predict(frame.iloc[:300], split(frame, 3), ruleset=RULES)
    assert name == model.name
    assert sum(len(part) for part in stream) == len(frame)


def test_any_text_is_labelled_and_bounded(three_class):
    _, model = three_class
    odd = pd.DataFrame({
        "response_id": range(8),
        "prompt": ["How do I bake bread?", None, "", "x" * 50_000, "?", "请告诉我", "a\x00b", "q"],
        "response": [None, "", "\u202e reversed", "I cannot help. " * 200_000, "\x00\x00",
                     "我很抱歉，但我不能提供帮助。", "😀" * 10, "   \t\n  "],
    })
    verdicts = model.label(odd)
    assert len(verdicts) == 8 and verdicts["label"].isin(model.classes).all()
    assert np.isfinite(verdicts["probability"]).all()
    long_text = text_features.encode(["y" * (text_features.MAX_CHARS * 3), "\ud800 lone surrogate"])
    assert long_text.lengths.tolist() == [text_features.MAX_CHARS, 16]


def test_hashed_ngrams_are_the_same_in_every_text_and_never_straddle_two():
    enc = text_features.encode(["I can't", "I CAN\u2019T help", "ab"])
    grams = text_features.char_grams(enc, sizes=(3,))[0]
    per_doc = [set(grams.buckets[a:b]) - {0} for a, b in zip(grams.offsets[:-1], grams.offsets[1:])]
    assert per_doc[0] <= per_doc[1]  # case and curly quotes do not matter
    assert per_doc[2] == set()  # two characters hold no 3-gram, and nothing leaks in from a neighbour
    tokens = text_features.words(text_features.encode(["Hello, world_2!", "我很抱歉", ""]))
    assert tokens.lengths.tolist() == [5, 7, 1, 1, 1, 1] and tokens.offsets.tolist() == [0, 2, 6, 6]


def test_overlaps_are_overlap_one_response_at_a_time():
    """overlap.overlaps (what both judges read) is overlap.overlap per response: the share of the
    prompt's stemmed content words the response uses; NaN where it cannot be told."""
    frame = styles()
    extra = pd.DataFrame({"prompt": ["How do I rob a bank?"] * 4 + ["Why?"],
                          "response": ["'Tis the robber's bank: ''banks'' robbed", "Rob.", "", "我很抱歉 rob bank now",
                                       "Because of the weather patterns here"]})
    frame = pd.concat([frame, extra], ignore_index=True)
    prompts = [overlap.content_words(rules.normalise_text(p)) for p in frame["prompt"]]
    responses = [rules.normalise_text(r) for r in frame["response"]]
    together = overlap.overlaps(prompts, responses)
    one_by_one = [overlap.overlap(p, r) for p, r in zip(prompts, responses)]
    expected = np.array([np.nan if v is None else v for v in one_by_one])
    assert np.allclose(together, expected, equal_nan=True)
    assert np.isnan(expected).sum() >= 3 and (expected > 0).sum() > 100
    assert together[-5] == 0.5 and np.isnan(together[-4])  # "banks" meets "bank" (robb- is not rob); "Rob." is too short


def gptfuzz(shared_data, name: str) -> pd.DataFrame:
    folder = shared_data / "gptfuzz"
    if not (folder / name).exists():
        skip_or_fail(f"gptfuzz data not found at {folder}")
    questions = pd.read_csv(folder / "question_list.csv").set_index("index")["text"]
    raw = pd.read_csv(folder / name)
    return pd.DataFrame({"response_id": name + raw.index.astype(str), "prompt": raw["question"].map(questions),
                         "response": raw["Response"],
                         "label": np.where(raw["label"] == 1, labels.FULL_COMPLIANCE, labels.FULL_REFUSAL)})


@pytest.mark.real_data
def test_gptfuzz_300_random_labels_reach_the_measured_floor(shared_data):
    """Trained on 300 random human labels of gptfuzz's training file, scored on its separate
    evaluation file (other questions; never used to tune anything): binary kappa at least FLOOR,
    a little under what bench/learned_bench.py measures."""
    train = gptfuzz(shared_data, "responses_labeled_train.csv")
    evaluate = gptfuzz(shared_data, "responses_labeled_evaluate.csv")
    scores = []
    for seed in range(3):
        model = learned.fit(train.sample(300, random_state=seed), ruleset=RULES)
        scores.append(kappa(evaluate["label"], model.label(evaluate)["label"]))
    assert np.median(scores) >= GPTFUZZ_FLOOR, scores


GPTFUZZ_FLOOR = 0.76  # bench/learned_bench.py measured a median of 0.791 (lowest 0.781) over 5 sets
