"""store/review.py on the fixture database: every filter and status against a Python oracle,
ordering and keyset paging, full-text search, one item in full, and the team queue."""

from collections import Counter

import pytest

from labels import FULL_COMPLIANCE, REFUSALS, SHOULD_REFUSE, UNPARSED
from store import review, selection, writes
from store.selection import Selection as Filter
from tests.fixture_db import JUDGES, MODELS, PROMPTS, build


@pytest.fixture
def fx(db):
    return build(db, hostile=True)


def _rows(db):
    """Every response with its prompt, verdicts and current human labels, read the plain way."""
    out = []
    for rid, pid, model, dataset, category, expected in db.execute(
            "SELECT r.id, p.id, r.model, p.dataset, p.category, p.expected FROM responses r "
            "JOIN prompts p ON p.id = r.prompt_id"):
        verdicts = dict(db.execute("SELECT j.name, v.label FROM verdicts v JOIN judges j ON j.id = v.judge_id "
                                   "WHERE v.response_id = ?", [rid]).fetchall())
        humans = {}
        for annotator, label in db.execute("SELECT annotator, label FROM annotations WHERE response_id = ? "
                                           "ORDER BY id", [rid]):
            humans[annotator] = label
        humans = {k: v for k, v in humans.items() if v is not None}
        out.append(dict(rid=rid, pid=pid, model=model, dataset=dataset, category=category, expected=expected,
                        verdicts=verdicts, humans=humans))
    return out


def _wrong(expected, label):
    return label == FULL_COMPLIANCE if expected == SHOULD_REFUSE else label in REFUSALS


ORACLE = {
    "": lambda r: True,
    "unlabelled": lambda r: not r["humans"],
    "labelled": lambda r: bool(r["humans"]),
    "human_vs_judge": lambda r: any(h != v for h in r["humans"].values() for v in r["verdicts"].values()
                                    if v != UNPARSED),
    "judges_disagree": lambda r: len({v for v in r["verdicts"].values() if v != UNPARSED}) > 1,
    "contradicts_expected": lambda r: any(_wrong(r["expected"], x) for x in
                                          (r["humans"] or r["verdicts"]).values()),
    "tied": lambda r: len(r["humans"]) > 1 and list(Counter(r["humans"].values()).values()).count(
        max(Counter(r["humans"].values()).values())) > 1,  # no final labels in the fixture
}


@pytest.mark.parametrize("status", list(selection.STATUSES))
@pytest.mark.parametrize("model", ["", "llama-3-8b"])
def test_statuses_match_the_oracle(db, fx, status, model):
    writes.add_annotation(db, fx.responses[("con-1", "mistral-7b")], "dave", "full_refusal")
    writes.undo_last_annotation(db, fx.responses[("con-1", "mistral-7b")], "dave")  # withdrawn: unlabelled again
    rows = [r for r in _rows(db) if ORACLE[status](r) and (not model or r["model"] == model)]
    f = Filter(status=status, model=model)
    counts = review.progress(db, f, "alice")
    assert counts.responses == len(rows)
    assert counts.items == len({r["pid"] for r in rows})
    assert counts.labelled == sum(bool(r["humans"]) for r in rows)
    assert counts.mine == sum("alice" in r["humans"] for r in rows)
    assert review.item_ids(db, f, 0, 100) == sorted({r["pid"] for r in rows})
    assert review.count_items(db, f) == counts.items


def test_attribute_and_judge_filters(db, fx):
    assert review.item_ids(db, Filter(dataset="xstest"), 0, 99) == [fx.prompts[s] for s in ("xs-1", "xs-2", "xs-3")]
    assert review.count_items(db, Filter(category="Incomplete requests")) == 3
    assert review.count_items(db, Filter(subcategory="false presuppositions")) == 2
    assert review.count_items(db, Filter(expected="should_comply")) == 5
    # The rule judge never says partial refusal; the LLM judge does, once per prompt.
    assert review.count_items(db, Filter(judge="rules", judge_label="partial_refusal")) == 0
    assert review.progress(db, Filter(judge="gpt-judge", judge_label="partial_refusal")).responses == len(PROMPTS)
    assert review.progress(db, Filter(judge_label="full_refusal")).responses == 2 * len(PROMPTS)


def test_human_vs_judge_respects_the_chosen_judge(db, fx):
    # alice agrees with the LLM judge everywhere on orig-1; only the rule judge disagrees with her there.
    assert review.item_ids(db, Filter(status="human_vs_judge", judge="gpt-judge"), 0, 9) == [fx.prompts["orig-2"]]
    assert review.item_ids(db, Filter(status="human_vs_judge", judge="rules"), 0, 9) == \
        [fx.prompts["orig-1"], fx.prompts["orig-2"]]


def test_search_is_a_bound_parameter_and_bad_syntax_is_a_clear_error(db, fx):
    assert review.item_ids(db, Filter(search="neighbour"), 0, 9) == [fx.prompts["orig-1"], fx.prompts["xs-3"]]
    assert review.item_ids(db, Filter(search="pwned"), 0, 9) == [fx.prompts["orig-1"]]  # response text too
    assert review.count_items(db, Filter(search="kill OR shoot")) == 4
    # Plain words are text: what used to be FTS syntax errors are ordinary searches now.
    for text in ('"unbalanced', "AND", "mayor's", "x') OR 1=1 --", "self-harm", "C++", "NOT"):
        assert review.count_items(db, Filter(search=text)) >= 0
    assert review.count_items(db, Filter(search='"mayor\'s"')) == 0  # quoted: valid, just no match
    with pytest.raises(selection.SearchError, match="at least 3 letters"):
        Filter(search="w*")


def test_orders_are_permutations_walked_by_keyset_paging(db, fx):
    everything = sorted(fx.prompts.values())
    for f in (Filter(), Filter(order="random", seed=1), Filter(order="random", seed=2), Filter(order="disputed")):
        ids = review.item_ids(db, f, 0, 100)
        assert sorted(ids) == everything
        assert [review.item_ids(db, f, i, 1)[0] for i in range(len(ids))] == ids  # OFFSET paging agrees
        assert [review.position(db, f, i) for i in ids] == list(range(len(ids)))
        assert [review.neighbour(db, f, i, 1) for i in ids] == ids[1:] + [None]
        assert [review.neighbour(db, f, i, -1) for i in ids] == [None] + ids[:-1]
    assert review.item_ids(db, Filter(order="random", seed=1), 0, 100) != \
        review.item_ids(db, Filter(order="random", seed=2), 0, 100)
    assert review.item_ids(db, Filter(order="random", seed=1), 0, 100) != everything
    assert review.item_ids(db, Filter(order="disputed"), 0, 2) == [fx.prompts["orig-2"], fx.prompts["orig-1"]]


def test_neighbour_works_after_the_current_item_left_the_filter(db, fx):
    f = Filter(status="unlabelled")
    current = fx.prompts["orig-3"]
    for model in MODELS:
        writes.add_annotation(db, fx.responses[("orig-3", model)], "carol", "full_refusal")
    assert not review.contains(db, f, current)
    assert review.neighbour(db, f, current, 1) == fx.prompts["orig-4"]
    assert review.neighbour(db, f, current, -1) == fx.prompts["orig-2"]


def test_fetch_item_has_responses_verdicts_history_and_rubric(db, fx):
    rid = fx.responses[("orig-2", "gpt-4o-mini")]
    writes.add_annotation(db, rid, "carol", "full_refusal", "polite no")
    writes.add_annotation(db, rid, "carol", "partial_refusal")
    writes.undo_last_annotation(db, rid, "carol")
    item = review.fetch_item(db, fx.prompts["orig-2"])
    assert item.source_id == "orig-2" and item.expected == SHOULD_REFUSE and "Privacy rubric" in item.rubric
    assert [r.model for r in item.responses] == list(MODELS)
    first = item.responses[0]
    assert sorted(v.judge for v in first.verdicts) == sorted(JUDGES)
    assert all(v.rationale for v in first.verdicts)
    assert [a.label for a in first.history] == ["full_compliance", "full_refusal", "partial_refusal", "full_refusal"]
    assert first.history[-1].undoes == first.history[-2].id
    assert {k: v.label for k, v in first.current.items()} == {"bob": "full_compliance", "carol": "full_refusal"}
    assert first.judge_human_disagree()
    assert not item.responses[2].current and not item.responses[2].judge_human_disagree()
    assert review.fetch_item(db, fx.prompts["orig-1"]).rubric is None
    assert [r.model for r in review.fetch_item(db, fx.prompts["orig-1"], "mistral-7b").responses] == ["mistral-7b"]
    assert review.fetch_item(db, 10**6) is None


def test_find_prompt_by_benchmark_id(db, fx):
    assert review.find_prompt(db, "con-2") == [fx.prompts["con-2"]]
    assert review.find_prompt(db, "con-2", "xstest") == []
    assert review.find_prompt(db, "nope") == []


def test_browse_pages_cover_the_filter_once_in_item_order(db, fx):
    f = Filter(order="random", seed=7)
    pages = [review.browse_page(db, f, offset, 10) for offset in range(0, 40, 10)]
    assert [len(p) for p in pages] == [10, 10, 10, 6]
    rows = [r for p in pages for r in p.itertuples()]
    assert sorted(r.response_id for r in rows) == sorted(fx.responses.values())
    order = list(dict.fromkeys(r.prompt_id for r in rows))
    assert order == review.item_ids(db, f, 0, 100)
    bob = next(r for r in rows if r.response_id == fx.responses[("orig-2", "gpt-4o-mini")])
    assert bob.humans == "bob: full_compliance" and bob.agreement == "disagree"


def test_queue_respects_overlap_and_the_reviewers_own_labels(db, fx):
    f = Filter(dataset="coconot-original")
    # k=1: orig-1 (alice) and orig-2 gpt-4o-mini (bob) are done.
    assert review.queue_next(db, f, "carol", 1) == (fx.prompts["orig-2"], fx.responses[("orig-2", "llama-3-8b")])
    assert review.queue_left(db, f, "carol", 1) == 18 - 4
    # k=2: carol may second alice; alice herself is never handed her own responses.
    assert review.queue_next(db, f, "carol", 2) == (fx.prompts["orig-1"], fx.responses[("orig-1", "gpt-4o-mini")])
    assert review.queue_next(db, f, "alice", 2) == (fx.prompts["orig-2"], fx.responses[("orig-2", "gpt-4o-mini")])
    skip = (fx.responses[("orig-2", "llama-3-8b")],)
    assert review.queue_next(db, f, "carol", 1, skip=skip)[1] == fx.responses[("orig-2", "mistral-7b")]
    rid = fx.responses[("orig-2", "llama-3-8b")]
    writes.add_annotation(db, rid, "carol", "full_compliance")
    assert review.queue_next(db, f, "carol", 1)[1] != rid
    writes.undo_last_annotation(db, rid, "carol")  # withdrawn: back in everyone's queue
    assert review.queue_next(db, f, "carol", 1)[1] == rid


def test_random_sample_queue_is_uniform_over_the_open_responses(db, fx):
    open_ids = {r["rid"] for r in _rows(db) if not r["humans"]}
    firsts = Counter(review.queue_next(db, Filter(), "carol", 1, random_sample=True, seed=s)[1] for s in range(1600))
    assert set(firsts) == open_ids  # every open response can come first, labelled ones never
    expected = 1600 / len(open_ids)
    chi2 = sum((firsts[i] - expected) ** 2 / expected for i in open_ids)
    assert chi2 < 70  # 31 degrees of freedom: p ~ 1e-4 at 70; a biased order fails by far
    same_seed = [review.queue_next(db, Filter(), "carol", 1, random_sample=True, seed=3) for _ in range(2)]
    assert same_seed[0] == same_seed[1]


def test_options_list_what_is_present(db, fx):
    opts = review.options(db)
    assert opts["dataset"] == ["coconot-contrast", "coconot-original", "xstest"]
    assert opts["model"] == list(MODELS) and opts["judge"] == sorted(JUDGES)
    assert "" not in opts["subcategory"]


def test_unknown_status_or_order_is_refused():
    with pytest.raises(selection.SelectionError, match="human status"):
        Filter(status="maybe")
    with pytest.raises(selection.SelectionError, match="order"):
        Filter(order="sideways")
