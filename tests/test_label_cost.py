"""What a label press invalidates (issue 18): agreement reads only labelled responses and gives
the same figures as reading everything; progress counts the labelled side apart from the totals;
the cache key of label-free reads does not move when a label is written. Speed itself is measured
by bench/scale_bench.py, not here."""

import pandas as pd

import store
from analysis import agreement
from store import review, writes
from store.selection import Selection
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
