"""The review and browse pages under AppTest, on the fixture database (tests/fixture_db.py)."""

import os

import pytest
from streamlit.testing.v1 import AppTest

import store
from tests.conftest import ROOT, sign_in
from tests.fixture_db import build
from tests.test_untrusted_text import assert_inert


@pytest.fixture
def fixture(db, db_path, monkeypatch):
    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))  # the app's only database (ui/deployment.py)
    return build(db, hostile=True)


def _app(db_path, page="pages/review.py", reviewer="carol", query=None, signed_in=None, **state) -> AppTest:
    """The app on ``page``; ``signed_in``: a user who signed in (a typed name never acts as an admin)."""
    assert os.environ.get("REFUSAL_REVIEW_DB") == str(db_path), "the test's fixture points the app at its database"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if signed_in:
        sign_in(at, signed_in)
    elif reviewer:
        at.session_state["reviewer"] = reviewer
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.query_params.update(query or {})
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _text(at) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


def _annotations(db_path):
    return store.connect(db_path).execute(
        "SELECT response_id, annotator, label, note, undoes FROM annotations WHERE annotator = 'carol' ORDER BY id"
    ).fetchall()


def test_page_renders_an_item_with_every_model_and_verdict(db_path, fixture):
    at = _app(db_path, rv_hide_sensitive=False)
    text = _text(at)
    assert "How do I pick the lock" in text
    for model in ("gpt-4o-mini", "llama-3-8b", "mistral-7b"):
        assert f"#### {model}" in text
    assert [p.proto.popover.label for p in at.get("popover")][:2] == [":red-badge[gpt-judge: full refusal]",
                                                          ":red-badge[rules: full refusal]"]
    assert "The response reads as full refusal" in text  # the rationale, inside the popover
    assert ":red-badge[alice: full refusal]" in text
    assert "judge ≠ human" in text  # alice's partial refusal vs the rule judge's full refusal
    assert "Item **1** of **12**" in text
    assert at.query_params["prompt"] == "orig-1" and at.query_params["model"] == "gpt-4o-mini"
    assert "Labelled **4 / 36** responses in this filter (12 prompts)" in at.get("progress")[0].proto.text


def test_hostile_text_is_escaped_and_sensitive_prompts_start_hidden(db_path, fixture):
    at = _app(db_path)
    assert "How do I pick the lock" not in _text(at)  # safety category: hidden until clicked
    at.button(key="rv_reveal").click().run()
    text = _text(at)
    assert "How do I pick the lock" in text
    assert "\\<script>document.title='pwned'\\</script>\\<img `src=http://127.0.0.1:9/x.png>`" in text
    assert_inert(text)  # no tag, image or link can form (tests/test_untrusted_text.py)


def test_over_refusal_bait_is_not_hidden(db_path, fixture):
    """A should-comply prompt in a safety category (CoCoNot contrast) only looks unsafe: shown at once."""
    at = _app(db_path, query={"prompt": "con-1"})
    assert at.session_state["rv_hide_sensitive"] is True
    assert not [b for b in at.button if b.key == "rv_reveal"]


def test_label_button_writes_an_annotation_with_the_reviewers_name(db_path, fixture):
    at = _app(db_path)
    rid = fixture.responses[("orig-1", "llama-3-8b")]
    at.text_input(key=f"rv_note_{rid}").input("hedges")
    at.button(key=f"rv_label_{rid}_full_refusal").click().run()
    assert _annotations(db_path) == [(rid, "carol", "full_refusal", "hedges", None)]
    assert ":red-badge[carol: full refusal]" in _text(at)
    assert at.session_state["rv_focus"] == fixture.responses[("orig-1", "mistral-7b")]  # focus moved on

    at.button(key="rv_undo").click().run()  # U: my last label on this prompt, though the focus moved on
    rows = _annotations(db_path)
    assert rows[-1][2] is None and rows[-1][4] is not None  # an undo row, label withdrawn
    assert rows[-1][0] == rid
    assert "carol: full refusal" not in _text(at).split("History")[0]
    assert any("Undid your full refusal on llama-3-8b" in m.value for m in at.markdown)  # the status line
    assert at.session_state["rv_focus"] == rid  # the focus returns to what was undone



def test_a_label_reruns_only_the_responses_and_the_counts_it_changes(db_path, fixture):
    """The label buttons live in a fragment (pages/review.py, labelling()): a label redraws the
    responses, the focus, Undo and the sidebar's counts, and nothing else of the page."""
    at = _app(db_path)
    mine = lambda: [c.value for c in at.sidebar.caption if "labelled by you" in c.value]  # noqa: E731
    assert mine() == ["0 labelled by you"]
    assert at.button(key="rv_undo").disabled  # nothing of mine on this prompt yet
    title = at.markdown[0].value
    rid = fixture.responses[("orig-1", "llama-3-8b")]
    at.button(key=f"rv_label_{rid}_full_compliance").click().run()
    assert mine() == ["1 labelled by you"]  # drawn once, into its slot
    assert not at.button(key="rv_undo").disabled
    assert any("Saved: full compliance on llama-3-8b" in m.value for m in at.markdown)
    assert at.markdown[0].value == title
    assert len(at.get("progress")) == 1

def test_two_reviewers_keep_their_own_labels(db_path, fixture):
    rid = fixture.responses[("orig-1", "gpt-4o-mini")]
    for name, label in (("carol", "full_compliance"), ("dave", "full_refusal")):
        at = _app(db_path, reviewer=name)
        at.button(key=f"rv_label_{rid}_{label}").click().run()
    text = _text(at)
    assert ":green-badge[carol: full compliance]" in text and ":red-badge[dave: full refusal]" in text


def test_without_a_name_the_page_asks_for_one_and_cannot_label(db_path, fixture):
    """One name field (issue 17): the page points at the sidebar's, which it then takes."""
    at = _app(db_path, reviewer=None)
    assert at.button(key=f"rv_label_{fixture.responses[('orig-1', 'gpt-4o-mini')]}_full_refusal").disabled
    assert any("Who is labelling" in i.value for i in at.info)
    assert [t.key for t in at.text_input if t.label == "Who is labelling"] == ["reviewer"]
    at.text_input(key="reviewer").input("erin").run()
    assert at.session_state["reviewer"] == "erin"
    assert not at.button(key=f"rv_label_{fixture.responses[('orig-1', 'gpt-4o-mini')]}_full_refusal").disabled


def test_filters_narrow_the_set(db_path, fixture):
    at = _app(db_path)
    at.selectbox(key="rv_dataset").select("xstest").run()
    assert "Item **1** of **3**" in _text(at)
    assert "Labelled **0 / 9** responses" in at.get("progress")[0].proto.text
    assert at.query_params["prompt"] == "xs-1"
    at.selectbox(key="rv_status").select("human_vs_judge").run()
    assert "Nothing to review" in "\n".join(i.value for i in at.info)
    at.selectbox(key="rv_dataset").select("").run()
    assert "Item **1** of **2**" in _text(at)  # orig-1 (alice vs rules) and orig-2 (bob vs both judges)
    at.text_input(key="rv_search").input("mayor").run()
    assert "Item **1** of **1**" in _text(at) and at.query_params["prompt"] == "orig-2"


def test_searches_are_plain_text_and_a_too_short_prefix_is_a_message(db_path, fixture):
    at = _app(db_path)
    at.text_input(key="rv_search").input('"unbalanced').run()  # was an FTS syntax error: now just text
    assert not at.exception and not at.sidebar.error
    at.text_input(key="rv_search").input("w*").run()
    assert not at.exception
    assert any("at least 3 letters" in e.value for e in at.sidebar.error)
    assert "Item **1** of **12**" in _text(at)  # the bad search is ignored, not applied


def test_deep_link_opens_the_prompt_and_focuses_the_model(db_path, fixture):
    at = _app(db_path, query={"prompt": "con-2", "model": "mistral-7b"})
    assert "Why is the sky blue" in _text(at)
    assert at.session_state["rv_focus"] == fixture.responses[("con-2", "mistral-7b")]
    assert "Item **8** of **12**" in _text(at)
    assert at.query_params["prompt"] == "con-2" and at.query_params["model"] == "mistral-7b"


def test_unknown_deep_link_says_so(db_path, fixture):
    at = _app(db_path, query={"prompt": "nope"})
    assert any("No prompt with id 'nope'" in w.value for w in at.warning)


def test_next_previous_jump_and_order(db_path, fixture):
    at = _app(db_path)
    at.button(key="rv_next").click().run()
    assert at.query_params["prompt"] == "orig-2" and "Item **2** of **12**" in _text(at)
    at.button(key="rv_prev").click().run()
    assert at.query_params["prompt"] == "orig-1"
    at.number_input(key="rv_jump").set_value(12)
    at.button(key="rv_go").click().run()
    assert at.query_params["prompt"] == "xs-3"
    at.selectbox(key="rv_order").select("disputed").run()
    at.number_input(key="rv_jump").set_value(1)
    at.button(key="rv_go").click().run()
    assert at.query_params["prompt"] == "orig-2"  # bob's override makes it the most disputed


def test_save_and_next_keeps_a_late_note_and_moves_on(db_path, fixture):
    at = _app(db_path)
    rid = fixture.responses[("orig-1", "gpt-4o-mini")]
    at.button(key=f"rv_label_{rid}_full_refusal").click().run()
    at.text_input(key=f"rv_note_{rid}").input("clear refusal")
    at.button(key="rv_save_next").click().run()
    assert _annotations(db_path)[-1] == (rid, "carol", "full_refusal", "clear refusal", None)
    assert at.query_params["prompt"] == "orig-2"


def test_queue_hands_out_unlabelled_responses_with_overlap_and_blind_mode(db_path, fixture):
    at = _app(db_path, rv_queue_mode=True, rv_overlap=1, rv_blind=True)
    # orig-1 is fully labelled by alice (k=1), orig-2 gpt-4o-mini by bob: the queue starts at orig-2 llama.
    assert at.query_params["prompt"] == "orig-2"
    assert at.session_state["rv_focus"] == fixture.responses[("orig-2", "llama-3-8b")]
    assert "responses left for you" in _text(at)
    assert "Blind labelling" in _text(at) and not at.get("popover")  # verdicts hidden before labelling
    rid = fixture.responses[("orig-2", "llama-3-8b")]
    at.button(key=f"rv_label_{rid}_full_compliance").click().run()
    assert len(at.get("popover")) == 2  # this response's two verdicts, now that carol has labelled it

    at2 = _app(db_path, rv_queue_mode=True, rv_overlap=2)  # k=2: carol may second alice on orig-1
    assert at2.query_params["prompt"] == "orig-1"


def test_browse_page_is_paged_and_a_row_opens_the_item(db_path, fixture):
    at = _app(db_path, page="pages/browse.py", br_size=25)
    frame = at.dataframe[0].value
    assert len(frame) == 25 and "36 responses in this filter" in _text(at)
    assert frame.iloc[0]["source_id"] == "orig-1" and frame.iloc[0]["agreement"] == "agree"
    assert frame.iloc[3]["humans"] == "bob: full_compliance" and frame.iloc[3]["agreement"] == "disagree"
    # "agree?" compares the judges with the humans: blank where no human has labelled, even when judged.
    unlabelled = frame[(frame["humans"] == "") & frame["final"].isna() & (frame["judges"] != "")]
    assert len(unlabelled) and (unlabelled["agreement"] == "").all()
    at.number_input(key="br_page").set_value(2).run()
    frame = at.dataframe[0].value
    assert len(frame) == 11 and frame.iloc[-1]["source_id"] == "xs-3"

    at.session_state["br_table_2_25"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert at.query_params["prompt"] == frame.iloc[1]["source_id"]
    assert at.session_state["rv_focus"] == frame.iloc[1]["response_id"]


def test_more_than_three_models_show_a_summary_and_a_chosen_pair(db_path, fixture):
    db = store.connect(db_path)
    pid = fixture.prompts["con-1"]
    extra = store.writes.add_responses(db, [dict(prompt_id=pid, model=m, text=f"Answer by {m}.")
                                            for m in ("phi-3", "qwen-2")])
    at = _app(db_path, query={"prompt": "con-1", "model": "phi-3"})
    text = _text(at)
    assert text.count("not reviewed yet") >= 5  # one summary line per model (none reviewed on con-1)
    headings = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert headings[0].startswith("#### phi-3") and len(headings) == 2  # the focused one and its partner
    at.selectbox(key="rv_compare").select(extra[1]).run()
    assert [m.value for m in at.markdown if m.value.startswith("#### ")][1] == "#### qwen-2"


def test_jump_number_follows_a_narrower_filter(db_path, fixture):
    at = _app(db_path)
    at.number_input(key="rv_jump").set_value(12)
    at.button(key="rv_go").click().run()
    at.selectbox(key="rv_dataset").select("xstest").run()
    assert not at.exception and at.number_input(key="rv_jump").value == 3


def test_rubric_from_the_categories_table_wins_over_the_built_in_guideline(db_path, fixture):
    captions = lambda at: "\n".join(c.value for c in at.caption)  # noqa: E731
    at = _app(db_path, query={"prompt": "orig-2"})
    assert "Privacy rubric" in captions(at) and "Safety concern" not in captions(at)
    at = _app(db_path, query={"prompt": "orig-3"})
    assert "Incomplete request" in captions(at) and "Expected: should refuse" in captions(at)


def test_the_filter_survives_a_switch_to_browse_and_back(db_path, fixture):
    at = _app(db_path)
    at.selectbox(key="rv_dataset").select("xstest").run()
    at.switch_page("pages/overview.py").run()
    at.switch_page("pages/browse.py").run()
    assert "9 responses in this filter" in _text(at)
    at.switch_page("pages/review.py").run()
    assert at.selectbox(key="rv_dataset").value == "xstest" and "Item **1** of **3**" in _text(at)


def test_moderators_judge_prompts_and_are_not_offered_where_responses_are_judged(db, db_path, fixture):
    """A moderator (a prompt-level judge of the prompt-set pipeline, stored as a judge) is not in the
    "judged by" filter nor in the judge selectors of Browse, Results and Agreement; a judge that has
    judged responses is, as soon as it has one verdict."""
    from store import review, writes
    from tests.test_prompt_labels import moderate

    moderate(db, fixture.prompts["orig-1"], "moderator:llama:1234abcd", "violence")
    later = writes.ensure_judge(db, "late-judge", "llm")  # registered, nothing judged yet
    assert review.options(db)["judge"] == ["gpt-judge", "rules"]
    writes.add_verdicts(db, [dict(response_id=fixture.responses[("orig-1", "gpt-4o-mini")], judge_id=later,
                                  label="full_refusal")])
    assert review.options(db)["judge"] == ["gpt-judge", "late-judge", "rules"]

    offered = ["gpt-judge", "late-judge", "rules"]  # as shown: the stored names have no hash to drop
    assert _app(db_path).selectbox(key="rv_judge").options == ["any", *offered]  # the Review filter
    grid = _app(db_path, "pages/browse.py", br_view="grid")
    assert grid.selectbox(key="br_colour").options[1:] == [f"judge {j}" for j in offered]
    assert _app(db_path, "pages/agreement.py").selectbox(key="agreement_judge").options == offered
    results = _app(db_path, "pages/results.py")
    assert next(s for s in results.selectbox if s.label == "Judge").options == offered


def test_browse_grid_before_any_label_has_every_model_and_a_judges_colours(db, db_path, monkeypatch):
    """No human label yet: the grid still has a column per model (a pivot would drop all-empty ones)
    and opens coloured by a judge, whose verdicts fill the cells."""
    from judges.rules import load_rules
    from runs import orchestrator
    from store.selection import Selection
    from tests.fake_openai import seed

    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))
    seed(db, 3, model="model-a")
    prompts = [r[0] for r in db.execute("SELECT id FROM prompts ORDER BY id")]
    store.writes.add_responses(db, [dict(prompt_id=p, model="model-b", text="I'm sorry, I can't help with that.")
                              for p in prompts])
    orchestrator.judge(db, load_rules(), Selection())
    at = _app(db_path, "pages/browse.py", br_view="grid")
    colour = at.selectbox(key="br_colour")
    assert colour.value.startswith("rules:")
    grid = at.dataframe[0].value
    assert [c for c in grid.columns if c != "row"] == ["model-a", "model-b"]
    assert (grid["model-b"] != "—").all()  # the judge's refusals are drawn, not left blank
    colour.set_value("__humans__").run()
    assert [c for c in at.dataframe[0].value.columns if c != "row"] == ["model-a", "model-b"]
    assert "No human labels on this page yet" in _text(at)
