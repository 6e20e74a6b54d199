"""Injection (issue 7, item 5): search text, filter values and link parameters are data, never SQL.

Hostile strings go through every way in: the store's review reads, the CLI (``python cli.py search``
in a subprocess), the review page's search box and filters, and deep-link query parameters (AppTest).
Each gives a clear message or no (or the right) result, never a traceback; and afterwards every
table holds what it held (same schema, same row counts) and ``PRAGMA integrity_check`` is ok.

The database also *contains* SQL-looking names (a dataset, a category, a model and a benchmark id
built from quotes and ``--``): filtering on them must find exactly their item, which a query that
pasted the value into SQL would not.
"""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import cli
import store
from errors import UserError
from labels import SHOULD_REFUSE
from store import categories, reads, review, runs, writes
from store.selection import ORDERS, SearchError, Selection
from tests.conftest import ROOT
from tests.fixture_db import build
from tests.test_review_page import _app

# Text that FTS5 would read as broken syntax: the search box takes every one as plain words.
FTS_SYNTAX = ["'; DROP TABLE annotations; --", '"unbalanced', "NEAR(", "*", ")", "prompt:", "\x00",
              "lock\x00picking", "OR", "-lock", "rowid:1", "AND", "NOT", "C++", "self-harm", "it's"]
NOT_A_SEARCH = ['"' + "x" * 100_000, "x" * 100_000, "w*", "ab*"]  # too long to be a search; prefix too short
NO_MATCH = ["zebra", 'text:"drop database"', "^zzz"]
SQLISH = ["x' OR '1'='1", "'; DROP TABLE prompts; --", '" OR 1=1 --', "%", "_", "\\", "a\x00b", "",
          "coconot-original' --", "Robert'); DROP TABLE annotations;--"]
# Names that exist in the database: each must be found exactly, as the data it is.
EVIL_DATASET = "x'); DROP TABLE prompts; --"
EVIL_CATEGORY = 'c" OR 1=1 --'
EVIL_SOURCE = "'; DROP TABLE annotations; --"
EVIL_MODEL = "m' OR '1'='1"
EVIL_TEXT = "Robert'); DROP TABLE students;-- asks about little bobby tables"


@pytest.fixture
def hostile_db(db_path, monkeypatch):
    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))  # the app's only database (ui/deployment.py)
    db = store.connect(db_path)
    build(db, hostile=True)
    ids = writes.add_prompts(db, [dict(dataset=EVIL_DATASET, split="x", source_id=EVIL_SOURCE,
                                       category=EVIL_CATEGORY, expected=SHOULD_REFUSE, text=EVIL_TEXT)])
    writes.add_responses(db, [dict(prompt_id=ids[(EVIL_DATASET, EVIL_SOURCE)], model=EVIL_MODEL,
                                   text="I won't help with that'; --")])
    db.conn.close()
    return db_path


def _snapshot(path) -> dict:
    """Schema and row counts of every table, and the integrity check: what must not change."""
    db = store.connect(path, readonly=True)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    schema = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    counts = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # names from sqlite_master
              for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.conn.close()
    return {"schema": schema, "counts": counts}


# --- the store -------------------------------------------------------------------------------------

def _every_read(db, f: Selection, reviewer: str = "carol") -> None:
    review.count_items(db, f)
    first = review.item_ids(db, f, 0, 5)
    review.progress(db, f, reviewer)
    review.browse_page(db, f, 0, 10)
    review.queue_next(db, f, reviewer, 2, True, 3)
    review.queue_left(db, f, reviewer, 2)
    for pid in first[:1] or [1]:
        review.neighbour(db, f, pid, 1)
        review.position(db, f, pid)
        review.contains(db, f, pid)


@pytest.mark.parametrize("text", FTS_SYNTAX)
def test_store_search_reads_any_text_as_words(hostile_db, text):
    before = _snapshot(hostile_db)
    db = store.connect(hostile_db)
    for order in ORDERS:
        f = Selection(search=text, order=order, status="labelled")
        _every_read(db, f)
        assert set(review.item_ids(db, f, 0, 100)) <= set(range(1, 15))
    db.conn.close()
    assert _snapshot(hostile_db) == before


@pytest.mark.parametrize("text", NOT_A_SEARCH)
def test_store_refuses_what_cannot_be_a_search_in_one_line(hostile_db, text):
    with pytest.raises(SearchError) as caught:
        Selection(search=text)
    message = str(caught.value)
    assert message.startswith("search ") and "\n" not in message and len(message) < 400


@pytest.mark.parametrize("text", NO_MATCH)
def test_store_search_for_nonsense_finds_nothing(hostile_db, text):
    db = store.connect(hostile_db)
    for order in ORDERS:
        f = Selection(search=text, order=order)
        _every_read(db, f)
        assert review.count_items(db, f) == 0 and review.browse_page(db, f, 0, 10).empty


def test_store_search_finds_sql_looking_text_as_text(hostile_db):
    db = store.connect(hostile_db)
    f = Selection(search='"DROP TABLE students"')
    assert [db.execute("SELECT source_id FROM prompts WHERE id = ?", [i]).fetchone()[0]
            for i in review.item_ids(db, f, 0, 10)] == [EVIL_SOURCE]


@pytest.mark.parametrize("value", SQLISH)
def test_store_filter_values_are_bound(hostile_db, value):
    before = _snapshot(hostile_db)
    db = store.connect(hostile_db)
    for field in ("dataset", "category", "subcategory", "model", "judge", "judge_label", "expected"):
        f = Selection(**{field: value})
        _every_read(db, f, reviewer=value or "carol")
        expected = 13 if value == "" else 0  # "" means any; no other value is a real name
        assert review.count_items(db, f) == expected, (field, value)
    assert review.find_prompt(db, value) == [] and review.find_prompt(db, "orig-1", value or "none") == []
    assert all(r.model == value for r in review.fetch_item(db, 1, value).responses) if value else True
    every_prompt = [r[0] for r in db.execute("SELECT id FROM prompts ORDER BY id")]
    assert review.prompt_ids(db, Selection(dataset=value, category=value, search=value)) in ([], every_prompt)
    assert reads.responses_frame(db, Selection(dataset=value or "none")).empty
    assert reads.verdicts_frame(db, value or "none").empty
    with pytest.raises(UserError, match="no judge named|matches several judges"):
        runs.resolve_judge(db, value)
    db.conn.close()
    assert _snapshot(hostile_db) == before


def test_store_finds_sql_looking_names_exactly(hostile_db):
    db = store.connect(hostile_db)
    evil = db.execute("SELECT id FROM prompts WHERE source_id = ?", [EVIL_SOURCE]).fetchone()[0]
    for f in (Selection(dataset=EVIL_DATASET), Selection(category=EVIL_CATEGORY),
              Selection(model=EVIL_MODEL), Selection(dataset=EVIL_DATASET, model=EVIL_MODEL)):
        assert review.item_ids(db, f, 0, 10) == [evil], f
        assert review.browse_page(db, f, 0, 10)["model"].tolist() == [EVIL_MODEL]
    assert review.find_prompt(db, EVIL_SOURCE, EVIL_DATASET) == [evil]
    assert EVIL_DATASET in review.options(db)["dataset"]  # offered in the filter as it is



@pytest.mark.parametrize("text", FTS_SYNTAX + SQLISH)
def test_bulk_assignment_and_review_select_the_same_prompts_for_any_text(hostile_db, text):
    """Both bulk-assign widgets build the Review page's Selection: anything typed finds prompts or
    nothing, and the same words mean the same prompts."""
    db = store.connect(hostile_db)
    found = review.prompt_ids(db, Selection(search=text))
    assert set(found) <= {r[0] for r in db.execute("SELECT id FROM prompts")}
    assert set(review.item_ids(db, Selection(search=text), 0, 100)) <= set(found)
    assert review.prompt_ids(db, Selection(search="DROP TABLE; --")) == review.find_prompt(db, EVIL_SOURCE)


def test_categories_page_word_search_with_a_nul(hostile_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(hostile_db))
    categories.define(store.connect(hostile_db), "alice", "Locks")
    before = _snapshot(hostile_db)
    at = AppTest.from_file(str(ROOT / "pages" / "categories.py"), default_timeout=30)
    at.session_state["reviewer"] = "alice"
    at.run()
    next(t for t in at.text_input if t.label == "Prompt or response contains").input("lock\x00").run()
    assert not at.exception, at.exception
    assert any("1 prompt matches" in c.value for c in at.caption)  # issue 17: no "1 prompts"
    assert _snapshot(hostile_db) == before

# --- the CLI ---------------------------------------------------------------------------------------

def _cli(path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", "--db", str(path), "search", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_search_errors_are_one_clear_line(hostile_db):
    before = _snapshot(hostile_db)
    for text in NOT_A_SEARCH:
        done = _cli(hostile_db, "--", text)  # "--": a query may start with "-"
        assert done.returncode == 1, (text[:40], done.stdout, done.stderr)
        assert done.stdout == "" and "Traceback" not in done.stderr
        assert done.stderr.startswith("Error: search ") and done.stderr.count("\n") == 1, done.stderr[:300]
    for text in FTS_SYNTAX:  # plain words: a search, not an error
        result = CliRunner().invoke(cli.cli, ["--db", str(hostile_db), "search", "--", text])
        assert result.exit_code == 0 and result.output.startswith("matching prompts: "), (text, result.output)
    assert _snapshot(hostile_db) == before


def test_cli_search_and_filters_find_exactly_the_data(hostile_db):
    before = _snapshot(hostile_db)
    done = _cli(hostile_db, "zebra")
    assert done.returncode == 0 and done.stdout.startswith("matching prompts: 0;"), done.stderr
    for option in ("--dataset", "--category", "--model"):
        for value in ("x' OR '1'='1", "'; DROP TABLE prompts; --", '" OR 1=1 --', "%"):
            done = _cli(hostile_db, "", option, value, "--json")
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["prompts"] == 0, (option, value)
    found = json.loads(_cli(hostile_db, '"DROP TABLE students"', "--dataset", EVIL_DATASET, "--model", EVIL_MODEL,
                            "--category", EVIL_CATEGORY, "--json").stdout)
    assert found["prompts"] == 1 and [r["source_id"] for r in found["rows"]] == [EVIL_SOURCE]
    assert found["rows"][0]["model"] == EVIL_MODEL
    text = _cli(hostile_db, "lock", "--limit", "2").stdout.splitlines()
    assert text[0] == "matching prompts: 1; their responses shown: 2"
    assert text[1].startswith("  coconot-original:orig-1\tgpt-4o-mini\t")
    assert _snapshot(hostile_db) == before


# --- the review page (AppTest) ---------------------------------------------------------------------

def _errors(at) -> list[str]:
    return [e.value for e in at.error]


@pytest.mark.parametrize("text", NOT_A_SEARCH)
def test_review_search_box_says_what_is_wrong(hostile_db, text):
    before = _snapshot(hostile_db)
    at = _app(hostile_db, rv_hide_sensitive=False)
    at.text_input(key="rv_search").input(text).run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and errors[0].startswith("search ") and len(errors[0]) < 400, errors
    assert "Item **1** of **13**" in "\n".join(m.value for m in at.markdown)  # the bad search is ignored
    assert _snapshot(hostile_db) == before


@pytest.mark.parametrize("text", ["zebra", "NOT lock zebra"])
def test_review_search_box_with_no_match_shows_nothing_to_review(hostile_db, text):
    at = _app(hostile_db)
    at.text_input(key="rv_search").input(text).run()
    assert not at.exception and not _errors(at)
    assert any("Nothing to review in this filter" in i.value for i in at.info)


def test_review_filters_on_sql_looking_names_find_their_item(hostile_db):
    before = _snapshot(hostile_db)
    at = _app(hostile_db, rv_hide_sensitive=False)
    at.text_input(key="rv_search").input('"bobby tables"').run()
    for key, value in (("rv_dataset", EVIL_DATASET), ("rv_category", EVIL_CATEGORY), ("rv_model", EVIL_MODEL)):
        at.selectbox(key=key).select(value).run()
        assert not at.exception, at.exception
        text = "\n".join(m.value for m in at.markdown)
        assert "Item **1** of **1**" in text and "bobby tables" in text, key
    assert at.query_params["prompt"] == EVIL_SOURCE and at.query_params["model"] == EVIL_MODEL
    rid = store.connect(hostile_db).execute("SELECT id FROM responses WHERE model = ?", [EVIL_MODEL]).fetchone()[0]
    at.button(key=f"rv_label_{rid}_full_refusal").click().run()  # a label on it is an ordinary row
    after = _snapshot(hostile_db)
    assert after["schema"] == before["schema"]
    assert after["counts"]["annotations"] == before["counts"]["annotations"] + 1


def test_review_filter_values_not_in_the_data_fall_back_to_any(hostile_db):
    state = {"rv_dataset": "x' OR '1'='1", "rv_category": "'; DROP TABLE prompts; --", "rv_model": '" OR 1=1 --',
             "rv_judge": "%", "rv_judge_label": "full_refusal' --", "rv_expected": "should_refuse' OR 1=1 --"}
    before = _snapshot(hostile_db)
    at = _app(hostile_db, **state)
    assert not at.exception
    assert all(at.selectbox(key=key).value == "" for key in state)
    assert "Item **1** of **13**" in "\n".join(m.value for m in at.markdown)
    assert _snapshot(hostile_db) == before


@pytest.mark.parametrize("query", [
    {"prompt": "'; DROP TABLE prompts; --", "model": "x' OR '1'='1"},
    {"prompt": "orig-1", "dataset": "x' OR '1'='1"},
    {"prompt": "\" OR 1=1 --", "dataset": "'; DROP TABLE annotations; --"},
    {"prompt": "x" * 5000},
])
def test_deep_link_with_sql_in_its_parameters_says_not_found(hostile_db, query):
    before = _snapshot(hostile_db)
    at = _app(hostile_db, query=query)
    assert not at.exception
    assert any(w.value.startswith("No prompt with id ") for w in at.warning), [w.value for w in at.warning]
    assert _snapshot(hostile_db) == before


def test_deep_link_to_a_sql_looking_id_opens_it(hostile_db):
    at = _app(hostile_db, rv_hide_sensitive=False,
              query={"prompt": EVIL_SOURCE, "dataset": EVIL_DATASET, "model": "x' OR '1'='1"})
    assert not at.exception and not at.warning
    assert "bobby tables" in "\n".join(m.value for m in at.markdown)
    assert at.query_params["prompt"] == EVIL_SOURCE and at.query_params["dataset"] == EVIL_DATASET


@pytest.mark.parametrize("item", ["2", "1 OR 1=1", "'; DROP TABLE showcase_items; --", "-5", "9" * 30])
def test_showcase_links_with_sql_in_their_parameters(hostile_db, item):
    from store import showcases

    db = store.connect(hostile_db)
    evil = review.find_prompt(db, EVIL_SOURCE)[0]
    showcases.add_item(db, "alice", EVIL_SOURCE, evil, [], "first")
    showcases.add_item(db, "alice", EVIL_SOURCE, review.find_prompt(db, "xs-1")[0], [], "second")
    before = _snapshot(hostile_db)
    at = _app(hostile_db, page="pages/showcase.py", query={"showcase": EVIL_SOURCE, "item": item})
    number = 2 if item in ("2", "9" * 30) else 1  # clamped to the showcase; not a number: the first
    assert any(f"item {number} of 2" in c.value for c in at.caption), [c.value for c in at.caption]
    at = _app(hostile_db, page="pages/showcase.py", query={"showcase": "x' OR '1'='1", "item": item})
    assert any("no showcase named" in e.value for e in at.error)
    assert _snapshot(hostile_db) == before
