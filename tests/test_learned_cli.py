"""The learned judge and the "most informative first" queue wired to the store: ``cli.py judge
--judge learned`` trains on the database's human labels and labels the selection (out-of-fold where
it learnt), ``cli.py suggest`` draws and records batches with their inclusion probabilities, and
the corrected rate weights the batches' labels by 1 / pi."""

import json

import numpy as np
import pandas as pd
import pytest

import labels
from analysis import active, benchmarks
from runs import learned as learned_runs
from runs import orchestrator
from store import reads, suggestions, writes
from store.selection import Selection
from tests.conftest import run_cli
from tests.test_learned_judge import styles


def fill(db, labelled: int = 240) -> pd.DataFrame:
    """The hand-labelled fixture responses as two models' answers; the first ``labelled`` carry
    alice's label, the rest none."""
    frame = styles().reset_index(drop=True)
    frame["response"] = frame["response"].fillna("")
    frame["source_id"] = [f"s{i}" for i in range(len(frame))]
    ids = writes.add_prompts(db, [dict(dataset="styles", source_id=sid, category=f"c{i % 3}", text=prompt)
                                  for i, (sid, prompt) in enumerate(zip(frame["source_id"], frame["prompt"]))])
    frame["model"] = np.where(np.arange(len(frame)) % 2, "model-a", "model-b")
    frame["response_id"] = writes.add_responses(db, [
        dict(prompt_id=ids[("styles", sid)], model=model, text=text, origin="fixture")
        for sid, model, text in zip(frame["source_id"], frame["model"], frame["response"])])
    for rid, label in zip(frame["response_id"][:labelled], frame["label"][:labelled]):
        writes.add_annotation(db, int(rid), "alice", label)
    return frame


def stored_verdicts(db, judge: str) -> pd.DataFrame:
    return pd.read_sql_query("""SELECT v.response_id, v.label, v.probability, v.rationale, v.raw_output
                                FROM verdicts v JOIN judges j ON j.id = v.judge_id WHERE j.name = ?
                                ORDER BY v.response_id""", db.conn, params=[judge])


def test_cli_trains_labels_everything_and_suggests_a_recorded_batch(db, db_path):
    frame = fill(db)
    done = run_cli(db_path, "judge", "--judge", "learned")
    assert done.returncode == 0, done.stderr
    name = done.stdout.split(":", 2)[0] + ":" + done.stdout.split(":", 2)[1]
    assert name.startswith("learned:") and "trained on 240 human labels" in done.stdout
    verdicts = stored_verdicts(db, name)
    assert len(verdicts) == len(frame)
    assert verdicts["probability"].between(1 / 3, 1).all()  # the likeliest of three classes
    probs = verdicts["raw_output"].map(json.loads)
    assert np.allclose([sum(p.values()) for p in probs], 1)
    labelled = verdicts["response_id"].isin(frame["response_id"][:240])
    assert verdicts.loc[labelled, "rationale"].str.contains("out-of-fold").all()
    assert verdicts.loc[~labelled, "rationale"].str.contains("average of 5 fold models").all()
    again = run_cli(db_path, "judge", "--judge", "learned")  # same labels: the same judge, nothing left to do
    assert again.stdout.startswith(name) and "0 verdicts" in again.stdout

    out = run_cli(db_path, "suggest", "--n", "30", "--dataset", "styles", "--json", "--seed", "7")  # a fixed draw
    assert out.returncode == 0, out.stderr
    batch = json.loads(out.stdout)
    assert len(batch) == 30 and len({b["response_id"] for b in batch}) == 30
    assert {"dataset", "source_id", "model", "pi", "labelled"} <= set(batch[0])
    kept = suggestions.batches_frame(db)
    assert kept["response_id"].tolist() == [b["response_id"] for b in batch]
    assert np.allclose(kept["pi"], [b["pi"] for b in batch]) and (kept["judge"] == name).all()
    # 70% of the responses are labelled, but a label teaches the judge nothing new there: they get
    # no uncertainty share and make far less than 70% of the batch.
    assert sum(b["labelled"] for b in batch) < 0.5 * 30 * 240 / len(frame)
    pi = pd.DataFrame(batch).groupby("labelled")["pi"].mean()  # the same, whatever the seed: by design
    assert pi[True] < pi[False]


def test_out_of_fold_verdicts_are_what_agreement_measures(db):
    frame = fill(db)
    judge = learned_runs.train(db)
    orchestrator.judge(db, judge, Selection())
    verdicts = stored_verdicts(db, judge.name).set_index("response_id")
    oof = judge.out_of_fold.set_index("response_id")
    assert (verdicts.loc[oof.index, "label"] == oof["label"]).all()
    assert np.allclose(verdicts.loc[oof.index, "probability"], oof["probability"])
    # One more label is a new judge, with its own name beside the old one's.
    writes.add_annotation(db, int(frame["response_id"].iloc[300]), "bob", frame["label"].iloc[300])
    assert learned_runs.train(db).name != judge.name


def test_reference_annotator_and_no_labels(db):
    fill(db, labelled=0)
    with pytest.raises(learned_runs.learned.LabelsError, match="no human labels to learn from"):
        learned_runs.train(db)
    frame = styles()
    rids = reads.responses_frame(db)["response_id"].tolist()
    for rid, label in zip(rids[:80], frame["label"][:80]):
        writes.add_annotation(db, rid, "carol", label)
    writes.add_annotation(db, rids[0], "dave", labels.PARTIAL_REFUSAL)
    judge = learned_runs.train(db, reference="carol")
    assert judge.reference == "carol" and len(judge.out_of_fold) == 80 and judge.config["reference"] == "carol"


def test_suggest_without_a_judge_is_uniform_and_spread_and_batches_feed_the_active_estimate(db):
    fill(db, labelled=0)
    batch = learned_runs.suggest(db, Selection(dataset="styles"), n=40, seed=3)
    assert np.allclose(batch["pi"], 40 / len(reads.responses_frame(db)), rtol=0.5)  # uniform and spread only
    assert set(batch["model"]) == {"model-a", "model-b"} and batch["category"].nunique() == 3
    # Reviewers label the batch in its order: the queue walks it.
    first = suggestions.next_suggested(db, Selection(), "alice")
    assert first[1] == batch["response_id"].iloc[0]
    truth = dict(zip(reads.texts(db, batch["response_id"].tolist())["response_id"], batch["response_id"]))
    styles_labels = styles()["label"].tolist()
    for position, rid in enumerate(batch["response_id"]):
        writes.add_annotation(db, int(rid), "alice", styles_labels[position % len(styles_labels)])
    assert suggestions.next_suggested(db, Selection(), "alice") is None and truth
    weights = active.label_weights(suggestions.batches_frame(db))
    assert np.allclose(weights.loc[batch["response_id"]].to_numpy(), 1 / batch["pi"].to_numpy())
    # A corrected rate from these labels: the rule judge's refusals, corrected with weights 1 / pi.
    rules_judge = orchestrator.judge(db, learned_runs.rules.load_rules(), Selection())
    assert rules_judge[1].status == "done"
    responses, verdicts, annotations = reads.analysis_frames(db)
    name = verdicts["judge"].iloc[0]
    frame = benchmarks.items(responses, verdicts, annotations, name, batches=suggestions.batches_frame(db))
    table = benchmarks.rate_table(frame, ["model"], set(labels.REFUSALS), "active")
    assert table["model"].tolist() == ["model-a", "model-b"] and table["estimate"].between(0, 1).all()
    assert table["reviewed"].sum() == 40 and (table["lo"] <= table["estimate"]).all()
    # Uniform draws make the weighted correction the plain prediction-powered one.
    uniform = benchmarks.rate_table(frame, ["model"], set(labels.REFUSALS), "corrected")
    assert np.allclose(table["estimate"], uniform["estimate"], atol=0.02)


def test_review_page_hands_out_the_suggested_batch_most_informative_first(db, db_path, monkeypatch):
    from tests.test_review_page import _app, _text

    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))
    fill(db, labelled=0)
    at = _app(db_path, rv_queue_mode=True, rv_informative=True)
    assert "No suggested response is left in this filter" in _text(at) + "".join(i.value for i in at.info)
    at.button(key="rv_draw").click().run()
    assert not at.exception, at.exception
    batch = suggestions.batches_frame(db)
    assert len(batch) == 50 and batch["batch"].nunique() == 1
    first = batch["response_id"].iloc[0]
    assert at.session_state["rv_focus"] == first  # the batch's first response, in its review order
    assert "50 suggested responses left to label" in _text(at)
    at.button(key=f"rv_label_{first}_full_refusal").click().run()
    assert "49 suggested responses left to label" in _text(at)


def test_agreement_page_shows_the_learned_judges_learning_curve(db, db_path, monkeypatch):
    from tests.test_review_page import _app

    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))
    fill(db)
    judge = learned_runs.train(db)
    orchestrator.judge(db, judge, Selection())
    points = learned_runs.curve(db)
    assert points["labels"].tolist() == [25, 50, 100, 200]
    assert points["evaluated"].tolist() == [215, 190, 140, 40]
    assert points["kappa"].iloc[-1] > points["kappa"].iloc[0] > 0
    at = _app(db_path, page="pages/agreement.py", agreement_judge=judge.name)
    at.toggle(key="agreement_curve").set_value(True).run()
    assert not at.exception, at.exception
    assert any("Learning curve" in h.value for h in at.subheader)
    assert "png-curve" in [b.key for b in at.get("download_button")]


def test_stored_rule_verdicts_stand_in_for_judging_again(db):
    """The learned judge reads the rule judge's stored verdicts (same rule file) instead of running
    it again: the same probabilities either way."""
    fill(db, labelled=120)
    orchestrator.judge(db, learned_runs.rules.load_rules(), Selection())
    judge = learned_runs.train(db)
    assert len(judge.known_rules) == len(reads.responses_frame(db))
    items = reads.texts(db, reads.responses_frame(db)["response_id"].tolist()[120:])
    with_stored = judge.label(items)
    judge.known_rules = None
    pd.testing.assert_frame_equal(with_stored, judge.label(items))


def test_results_page_offers_figures_corrected_by_the_suggested_batches(db, db_path, monkeypatch):
    from tests.fixture_db import build
    from tests.test_review_page import _app

    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))
    build(db)
    orchestrator.judge(db, learned_runs.rules.load_rules(), Selection())
    kinds = _app(db_path, page="pages/results.py").button_group[0]
    assert "Corrected by suggested batches" not in str(kinds.proto)  # no batch labelled yet
    batch = learned_runs.suggest(db, Selection(dataset="xstest"), n=6, seed=1)
    for rid in batch["response_id"]:
        writes.add_annotation(db, int(rid), "alice", labels.FULL_REFUSAL)
    at = _app(db_path, page="pages/results.py")
    at.button_group[0].set_value("active").run()
    assert not at.exception, at.exception
    assert any("Corrected by suggested batches" in info.value for info in at.info)
    assert any("XSTest" in h.value for h in at.subheader)
