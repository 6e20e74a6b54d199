"""The learned judge's two jobs that read the store: training it on the human labels, and drawing
the next batch of responses to label ("most informative first").

    judge = learned.train(db, reference="human")          # then orchestrator.judge(db, judge, selection)
    batch = learned.suggest(db, selection, n=50)          # recorded with each response's pi

The judge (judges/learned.py) and the sampling design (analysis/active.py) are pure; this module
reads their input from the store and records what they decide, as the orchestrator does for runs.
"""

import json
import secrets

import numpy as np
import pandas as pd

from analysis import active, humans, learning_curve
from judges import learned, rules
from store import reads, suggestions
from store.selection import Selection


def labelled(db, reference: str = humans.HUMAN) -> pd.DataFrame:
    """Every labelled response with its reference label (the majority of its annotators, ties left
    out, or one annotator's label): response_id, prompt, response, label."""
    reference_labels = humans.reference(reads.annotations_frame(db), reference)
    known = reference_labels[~reference_labels["tie"]]
    if known.empty:
        raise learned.LabelsError("learned judge: there are no human labels to learn from yet; label some "
                                  "responses on the Review page (or import labelled responses)")
    return reads.texts(db, known["response_id"].astype(int).tolist()).merge(
        known[["response_id", "reference"]].rename(columns={"reference": "label"}), on="response_id")


def train(db, reference: str = humans.HUMAN, settings: learned.Settings = learned.Settings(),
          rules_file=None) -> learned.Model:
    """A learned judge trained on every labelled response's reference label: the CLI's ``judge
    --judge learned`` calls this, then ``orchestrator.judge``. Where the same rule set has judged a
    response already, its stored verdict is read instead of judging again."""
    ruleset = rules.load_rules(rules_file)
    model = learned.fit(labelled(db, reference), settings, ruleset)
    model.reference = reference
    model.known_rules = reads.verdict_rationales(db, ruleset.name)
    return model


def curve(db, reference: str = humans.HUMAN, settings: learned.Settings = learned.Settings()) -> pd.DataFrame:
    """The learned judge's learning curve on the team's labels (analysis/learning_curve.py): kappa
    with its interval against the number of labels, each point scored on labels it never saw."""
    ruleset = rules.load_rules()

    def predict(train_frame: pd.DataFrame, test: pd.DataFrame):
        return learned.fit(train_frame, settings, ruleset).label(test)["label"]

    return learning_curve.learning_curve(labelled(db, reference), predict)


def uncertainty(pool: pd.DataFrame) -> np.ndarray:
    """The judge's uncertainty per response from its stored class probabilities (raw output JSON);
    NaN where it gave no verdict."""
    out = np.full(len(pool), np.nan)
    for i, raw in enumerate(pool["raw_output"].tolist()):
        if isinstance(raw, str):
            try:
                probs = json.loads(raw)
            except ValueError:
                continue
            if isinstance(probs, dict) and probs:
                out[i] = active.uncertainty(np.array([list(probs.values())], dtype=float))[0]
    return out


def suggest(db, selection: Selection = Selection(), n: int = 50, judge: str | None = None, seed: int | None = None,
            actor: str | None = None) -> pd.DataFrame:
    """Draw and record the next batch to label from the selection: ``n`` responses with known
    inclusion probabilities favouring ``judge``'s uncertainty (default: the newest learned judge;
    with none yet, uniform and spread over model x category). Responses the judge has not judged
    count as of median uncertainty. Returns batch, position, response_id, dataset, source_id,
    model, category, labelled, pi, in review order."""
    judge = judge or suggestions.latest_learned_judge(db)
    pool = suggestions.pool(db, selection, judge)
    if pool.empty:
        raise learned.LabelsError("no responses in the selection to suggest from")
    score = uncertainty(pool)
    pool["uncertainty"] = np.where(np.isnan(score), np.nanmedian(score) if (~np.isnan(score)).any() else 0.0, score)
    pool["labelled"] = pool["labelled"].astype(bool)
    seed = secrets.randbits(31) if seed is None else seed
    drawn = active.draw(pool, n, seed)
    batch_id = suggestions.record_batch(db, drawn, judge, len(pool), seed, selection, actor)
    out = drawn.merge(pool.drop(columns=["labelled", "probability", "raw_output", "uncertainty"]), on="response_id")
    out.insert(0, "position", np.arange(len(out)))
    out.insert(0, "batch", batch_id)
    return out[["batch", "position", "response_id", "dataset", "source_id", "model", "category", "labelled", "pi"]]
