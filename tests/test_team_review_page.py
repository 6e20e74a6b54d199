"""Issue 17 on the pages under AppTest: flag, tags, comments and the final label from a review card,
search highlights, the word diff, the Browse grid, the Agreement page's tag counts and tie link,
display names instead of hashes, and the Results page on CoCoNot preference data."""

import json

import pytest

import labels
import store
from store import adjudication, discussion, names, users
from tests.fixture_db import build
from tests.test_review_page import _app, _text
from ui.response_card import more_key


@pytest.fixture
def fixture(db, db_path, monkeypatch):
    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))  # the app's only database (ui/deployment.py)
    return build(db)


def test_flag_tags_and_comments_from_a_card(db_path, fixture):
    rid = fixture.responses[("con-2", "llama-3-8b")]
    at = _app(db_path, query={"prompt": "con-2"})
    assert not [m for m in at.multiselect if m.key == f"rv_tags_{rid}"]  # drawn once the panel is open
    at.session_state[more_key(rid)] = True  # the reviewer opens "Note · tags · discussion · history"
    at.run()
    at.button(key=f"rv_flag_{rid}").click().run()
    assert discussion.tags_of(store.connect(db_path), [rid]) == {rid: [discussion.FLAG]}
    assert f":orange-badge[:material/flag: {discussion.FLAG}]" in _text(at)
    at.multiselect(key=f"rv_tags_{rid}").set_value([discussion.FLAG, "lecture"]).run()
    assert discussion.tags_of(store.connect(db_path), [rid]) == {rid: ["lecture", discussion.FLAG]}
    at.text_input(key=f"rv_comment_{rid}").input("Is <this> a lecture?").run()
    thread = discussion.comments_of(store.connect(db_path), [rid])[rid]
    assert [(c.author, c.body) for c in thread] == [("carol", "Is <this> a lecture?")]
    assert "Is \\<this> a lecture?" in _text(at)  # shown inert
    assert ":gray-badge[:material/chat_bubble: 1]" in _text(at)  # the panel stayed open; the count is in the heading
    at.selectbox(key="rv_tag").select("lecture").run()  # the tag is a filter now
    assert "Item **1** of **1**" in _text(at) and at.query_params["f.tag"] == "lecture"


def test_an_admin_settles_a_tie_from_the_card_and_a_reviewer_cannot(db_path, fixture):
    db = store.connect(db_path)
    rid = fixture.responses[("xs-2", "mistral-7b")]
    users.set_role(db, "boss", "admin")
    store.writes.add_annotation(db, rid, "ann", labels.FULL_COMPLIANCE)
    store.writes.add_annotation(db, rid, "ben", labels.PARTIAL_REFUSAL)
    at = _app(db_path, reviewer="ann", query={"prompt": "xs-2"})
    assert ":violet-badge[:material/balance: humans tie]" in _text(at)  # in the card's heading, panel closed
    at = _app(db_path, reviewer="ann", query={"prompt": "xs-2"}, **{more_key(rid): True})
    assert "The human labels tie" in _text(at)
    assert not [b for b in at.button if b.key == f"rv_final_{rid}_full_compliance"]  # reviewers do not adjudicate
    at = _app(db_path, signed_in="boss", query={"prompt": "xs-2"}, **{more_key(rid): True})
    at.button(key=f"rv_final_{rid}_partial_refusal").click().run()
    assert adjudication.finals_of(db, [rid])[rid].label == labels.PARTIAL_REFUSAL
    assert ":violet-badge[:material/gavel: final: partial refusal]" in _text(at)


def test_search_words_are_highlighted_and_two_responses_diff_by_word(db_path, fixture):
    at = _app(db_path, rv_hide_sensitive=False)
    at.text_input(key="rv_search").input("mayor").run()
    assert ":orange-background[mayor]" in _text(at)
    diff_texts = [m.value for m in at.markdown if ":red-background[" in m.value or ":green-background[" in m.value]
    assert diff_texts  # the word diff of the first two responses, inside its expander


def test_judges_and_models_show_their_display_names_on_every_page(db_path, fixture):
    db = store.connect(db_path)
    db.execute("UPDATE judges SET name = 'rules:70c94a93' WHERE name = 'rules'")
    db.conn.commit()
    users.set_role(db, "boss", "admin")
    names.set_display_name(db, "model", "mistral-7b", "Mistral 7B", by="boss")
    store.writes.add_annotation(db, fixture.responses[("orig-1", "mistral-7b")], "zed", labels.FULL_REFUSAL)
    at = _app(db_path, rv_hide_sensitive=False)
    text = _text(at)
    assert "#### Mistral 7B" in text and "rules:70c94a93" not in text
    assert ":red-badge[rules: full refusal]" in [p.proto.popover.label for p in at.get("popover")]
    browse = _app(db_path, page="pages/browse.py")
    assert "Mistral 7B" in set(browse.dataframe[0].value["model_shown"])
    agreement = _app(db_path, page="pages/agreement.py")
    assert "rules" in set(agreement.dataframe[0].value["judge"]) and not any(
        "70c94a93" in str(v) for v in agreement.dataframe[0].value["judge"])


def test_browse_grid_is_prompts_by_models_and_a_cell_opens_the_response(db_path, fixture):
    at = _app(db_path, page="pages/browse.py", br_view="grid", br_size=25)
    grid = at.dataframe[0].value
    assert list(grid.columns) == ["row", "gpt-4o-mini", "llama-3-8b", "mistral-7b"] and len(grid) == 12
    assert grid.iloc[0]["llama-3-8b"] == "◐ partial"  # alice's label on orig-1
    assert grid.iloc[11]["gpt-4o-mini"] == "—"  # nobody labelled it
    at.selectbox(key="br_colour").select("rules").run()
    assert set(at.dataframe[0].value["mistral-7b"]) <= {"✓ complies", "◐ partial", "✗ refuses", "? unparsed", "—"}
    at.session_state["br_grid_1_25_rules"] = {"selection": {"rows": [], "columns": [], "cells": [[1, "mistral-7b"]]}}
    at.run()
    assert at.query_params["prompt"] == "orig-2"
    assert at.session_state["rv_focus"] == fixture.responses[("orig-2", "mistral-7b")]


def test_agreement_counts_tags_on_judge_errors_and_links_ties(db_path, fixture):
    db = store.connect(db_path)
    discussion.set_tags(db, fixture.responses[("orig-1", "llama-3-8b")], ["refused the wrong part"], "carol")
    rid = fixture.responses[("con-3", "mistral-7b")]
    store.writes.add_annotation(db, rid, "ann", labels.FULL_COMPLIANCE)
    store.writes.add_annotation(db, rid, "ben", labels.FULL_REFUSAL)
    at = _app(db_path, page="pages/agreement.py")
    at.selectbox(key="agreement_judge").select("rules").run()
    tables = [d.value for d in at.dataframe if "refused the wrong part" in d.value.columns]
    assert tables and tables[0]["refused the wrong part"].sum() == 1
    assert any("1 item where the human labels tie has" in c.value and "f.status=tied" in c.value for c in at.caption)


def test_results_on_preference_data_show_contrast_and_the_pairs(db_path, tmp_path, monkeypatch):
    from sources import import_file

    rows = [{"id": f"p{i}", "category": "Incomplete requests", "subcategory": "s", "prompt": f"Question {i}?",
             "chosen": f"Here is the answer {i}.", "chosen_model": "gpt-4", "rejected": "I can't help with that.",
             "rejected_model": ""} for i in range(4)]
    path = tmp_path / "coconot_pref.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))
    db = store.connect(db_path)
    import_file(db, "coconot", path, coconot_set="pref")
    store.writes.add_prompts(db, [dict(dataset="coconot-original", source_id="o1", text="x", category="c")])
    import judges
    from runs import orchestrator

    orchestrator.judge(db, judges.load("rules"))
    at = _app(db_path, page="pages/results.py")
    text = _text(at) + "\n".join(i.value for i in at.info)
    assert "CoCoNot contrast (should comply)" in text
    assert "coconot-original (1 prompt): prompts without responses yet" in text and "Run" in text
    contrast = at.dataframe[0].value.set_index("model")
    assert list(contrast.index) == ["gpt-4", names.UNNAMED_MODEL]  # never "unknown"
    assert contrast.loc["gpt-4", "(all)"] == 100.0 and contrast.loc[names.UNNAMED_MODEL, "(all)"] == 0.0
    assert any("chosen against rejected" in s.value for s in at.subheader)
