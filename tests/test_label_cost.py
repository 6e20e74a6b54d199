"""What a label press invalidates (issue 18): agreement reads only labelled responses and gives
the same figures as reading everything; benchmark figures from SQL counts per slice and judge
label plus the labelled responses equal the figures from every response and verdict; progress counts the labelled side apart from the totals;
the cache key of label-free reads does not move when a label is written. Speed itself is measured
by bench/scale_bench.py, not here."""

import pandas as pd
import pytest

import labels
import store
from analysis import agreement, benchmarks
from store import adjudication, review, users, writes
from store.selection import Selection
from tests import synthetic_judged
from tests.fixture_db import build


def test_agreement_on_the_labelled_responses_alone_gives_the_same_figures(db):
    build(db)
    for selection in (Selection(), Selection(dataset="xstest")):
        everything = agreement.overview(*store.reads.analysis_frames(db, selection))
        labelled = agreement.overview(*store.reads.analysis_frames(db, selection, labelled_only=True))
        pd.testing.assert_frame_equal(everything["leaderboard"], labelled["leaderboard"])
        assert everything["ties_excluded"] == labelled["ties_excluded"]
    responses, verdicts, annotations = store.reads.analysis_frames(db, labelled_only=True)
    assert set(responses["response_id"]) == set(annotations["response_id"])
    assert set(verdicts["response_id"]) <= set(responses["response_id"])


def test_progress_counts_match_a_direct_count(db):
    fx = build(db)
    rid = fx.responses[("orig-2", "llama-3-8b")]
    writes.add_annotation(db, rid, "carol", "full_refusal")
    for selection in (Selection(), Selection(dataset="xstest"), Selection(model="llama-3-8b"),
                      Selection(status="labelled")):
        counts = review.progress(db, selection, "carol")
        cond, params = store.selection.where(selection)
        direct = db.execute(f"""SELECT count(DISTINCT r.prompt_id), count(*),
                                  sum(EXISTS (SELECT 1 FROM current_annotations a WHERE a.response_id = r.id)),
                                  sum(EXISTS (SELECT 1 FROM current_annotations a WHERE a.response_id = r.id
                                              AND a.annotator = 'carol'))
                                FROM responses r JOIN prompts p ON p.id = r.prompt_id WHERE {cond}""",
                            params).fetchone()
        assert (counts.items, counts.responses, counts.labelled, counts.mine) == tuple(v or 0 for v in direct)


def test_a_label_moves_only_the_labels_part_of_the_change_token(db):
    fx = build(db)
    before = store.reads.change_token(db)
    writes.add_annotation(db, fx.responses[("orig-2", "llama-3-8b")], "carol", "full_refusal")
    after = store.reads.change_token(db)
    assert after[3] != before[3]
    assert after[:3] + after[4:] == before[:3] + before[4:]  # what ui.session.cache_key(labels=False) keys on


def _with_pairs_finals_and_batches(db) -> pd.DataFrame:
    """The synthetic benchmark database plus what else a report reads: preference pairs (a side per
    response), a final label on a response nobody labelled and one on a tie, and a suggested batch
    (returned, as store.suggestions.batches_frame gives one)."""
    synthetic_judged.build(db, 900, reviewed=0.3)
    ids = writes.add_prompts(db, [dict(dataset="coconot-pref", source_id=f"pair-{i}", category="Humanizing requests",
                                       text=f"pair {i}") for i in range(4)])
    pairs = writes.add_responses(db, [dict(prompt_id=pid, model="model-a", text=f"{side} {pid}", origin="t",
                                           settings={"preference": side})
                                      for pid in ids.values() for side in ("chosen", "rejected")])
    rules = writes.ensure_judge(db, "rules", "synthetic")
    writes.add_verdicts(db, [dict(response_id=rid, judge_id=rules, label=labels.LABELS[i % 3])
                             for i, rid in enumerate(pairs)])
    writes.add_annotation(db, pairs[0], "ann", labels.FULL_COMPLIANCE)
    writes.add_annotation(db, pairs[1], "ann", labels.FULL_REFUSAL)
    writes.add_annotation(db, pairs[1], "ben", labels.FULL_COMPLIANCE)
    users.set_role(db, "boss", "admin")
    adjudication.adjudicate(db, pairs[2], labels.PARTIAL_REFUSAL, "boss")  # a final label and no human label
    adjudication.adjudicate(db, pairs[1], labels.FULL_REFUSAL, "boss")  # settles the tie
    unlabelled = [r[0] for r in db.execute("""SELECT id FROM responses WHERE id NOT IN
                                              (SELECT response_id FROM current_annotations) ORDER BY id LIMIT 40""")]
    labelled = [r[0] for r in db.execute("SELECT DISTINCT response_id FROM current_annotations ORDER BY 1 LIMIT 40")]
    return pd.DataFrame({"batch": 1, "response_id": labelled + unlabelled, "pi": 0.25,
                         "labelled": [True] * len(labelled) + [False] * len(unlabelled)})


@pytest.mark.parametrize("selection", [Selection(), Selection(dataset="orbench-hard-1k"),
                                       Selection(model="model-b"), Selection(dataset="coconot-pref")])
def test_benchmark_figures_from_sql_counts_equal_the_figures_from_every_response(db, selection):
    batches = _with_pairs_finals_and_batches(db)
    final = adjudication.finals_frame(db)
    everything = store.reads.analysis_frames(db, selection)
    labelled = store.reads.analysis_frames(db, selection, labelled_only=True)
    assert len(labelled[0]) < len(everything[0])
    judges = store.reads.judges_with_verdicts(db)
    for source in ("human", "judge:rules", "judge:gpt-judge", "corrected:rules", "corrected:gpt-judge",
                   "active:rules"):
        judge = benchmarks.parse_source(source)[1]
        counts = store.reads.judge_label_counts(db, selection, judge)
        assert counts["responses"].sum() == len(everything[0])
        full = benchmarks.report(*everything, source, final=final, batches=batches)
        cheap = benchmarks.report(*labelled, source, final=final, batches=batches, counts=counts, judges=judges)
        assert any(len(full[part]) for part in ("coconot", "preference", "orbench", "xstest"))
        for part in ("coconot", "preference", "orbench", "xstest"):
            pd.testing.assert_frame_equal(full[part], cheap[part], check_dtype=False, rtol=1e-9)


def test_judge_label_counts_are_the_judges_labels_per_slice(db):
    _with_pairs_finals_and_batches(db)
    responses, verdicts, _ = store.reads.analysis_frames(db)
    mine = responses.merge(verdicts[verdicts["judge"] == "rules"], on="response_id", how="left")
    counts = store.reads.judge_label_counts(db, judge="rules")
    for column in store.reads.SLICE:  # slice by slice, and label by label within the pairs' sides
        direct = mine.groupby(column, dropna=False).size()
        assert counts.groupby(column, dropna=False)["responses"].sum().to_dict() == direct.to_dict()
    by_label = counts.groupby("judge_label")["responses"].sum().to_dict()
    assert by_label == mine["label"].value_counts().to_dict()
    sides = counts.dropna(subset=["side"]).groupby("side")["responses"].sum().to_dict()
    assert sides == {"chosen": 4, "rejected": 4}


def test_a_judge_without_verdicts_is_the_same_error_from_counts(db):
    _with_pairs_finals_and_batches(db)
    with pytest.raises(Exception, match="no verdicts by judge 'nobody'"):
        benchmarks.report(*store.reads.analysis_frames(db, labelled_only=True), "judge:nobody",
                          counts=store.reads.judge_label_counts(db, judge="nobody"),
                          judges=store.reads.judges_with_verdicts(db))


def _by_cell(frame: pd.DataFrame) -> dict:
    """Counts keyed by (slice..., judge label), missing values as None."""
    return {tuple(None if pd.isna(v) else v for v in row[:-1]): row[-1] for row in frame.itertuples(index=False)}


def _counted_by_pandas(db, judge: str | None) -> dict:
    responses, verdicts, _ = store.reads.analysis_frames(db)
    mine = responses.merge(verdicts.loc[verdicts["judge"] == judge, ["response_id", "label"]], on="response_id",
                           how="left")
    cells = [*store.reads.SLICE, "label"]
    return _by_cell(mine.groupby(cells, dropna=False).size().rename("n").reset_index())


def test_running_slice_counts_follow_inserts_deletes_and_edits(db):
    """slice_counts (migration 010) against a count of every row in pandas: after a first rebuild,
    after rows added and deleted (triggers), and after a prompt edit marks them stale."""
    _with_pairs_finals_and_batches(db)
    read = lambda: _by_cell(store.reads.judge_label_counts(db, judge="rules"))  # noqa: E731
    assert read() == _counted_by_pandas(db, "rules")  # counted by the triggers since the migration
    assert db.execute("SELECT stale FROM slice_counts_state").fetchone()[0] == 0
    pid = writes.add_prompts(db, [dict(dataset="xstest", source_id="late", category="homonyms", text="late")])
    late = writes.add_responses(db, [dict(prompt_id=pid[("xstest", "late")], model=m, text="t", origin="t")
                                     for m in ("model-a", "model-z")])
    writes.add_verdicts(db, [dict(response_id=late[0], judge_id=writes.ensure_judge(db, "rules", "synthetic"),
                                  label=labels.FULL_REFUSAL)])
    assert read() == _counted_by_pandas(db, "rules")  # kept by the insert triggers, not rebuilt
    assert db.execute("SELECT stale FROM slice_counts_state").fetchone()[0] == 0
    with store.write_transaction(db):
        db.execute("DELETE FROM verdicts WHERE response_id = ?", [late[0]])
        db.execute("DELETE FROM responses WHERE id = ?", [late[0]])
    assert read() == _counted_by_pandas(db, "rules")
    with store.write_transaction(db):
        db.execute("UPDATE prompts SET category = 'moved' WHERE source_id = 'p3'")
    assert db.execute("SELECT stale FROM slice_counts_state").fetchone()[0] == 1
    assert read() == _counted_by_pandas(db, "rules")
    for judge in (None, "gpt-judge", "nobody"):  # without a judge's verdicts every response is unjudged
        assert _by_cell(store.reads.judge_label_counts(db, judge=judge)) == _counted_by_pandas(db, judge)
    ro = store.connect(store.connection.db_path(db), readonly=True)
    with store.write_transaction(db):
        db.execute("UPDATE prompts SET category = 'moved again' WHERE source_id = 'p3'")
    assert _by_cell(store.reads.judge_label_counts(ro, judge="rules")) == _counted_by_pandas(db, "rules")  # live
    assert db.execute("SELECT stale FROM slice_counts_state").fetchone()[0] == 1  # a reader cannot rebuild
