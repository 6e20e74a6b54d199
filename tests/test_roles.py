"""Roles are enforced by the store: a viewer cannot write a label, through any path; read-only
mode writes nothing even when asked."""

import hashlib

import pytest

import store
from errors import UserError
from store import categories, showcases, users, writes


def _response(db, text="No."):
    ids = writes.add_prompts(db, [dict(dataset="d", source_id="p1", text="Tell me a secret")])
    return writes.add_responses(db, [dict(prompt_id=ids[("d", "p1")], model="m", text=text)])[0]


def _annotations(db):
    return db.execute("SELECT count(*) FROM annotations").fetchone()[0]


def test_first_user_of_a_fresh_database_is_admin_and_others_self_register_as_reviewers(db):
    rid = _response(db)
    assert users.role_of(db, "ann") == "admin"  # would be, before anyone has written
    writes.add_annotation(db, rid, "ann", "full_refusal")
    writes.add_annotation(db, rid, "bob", "full_compliance")
    assert {u["name"]: u["role"] for u in users.list_users(db)} == {"ann": "admin", "bob": "reviewer"}


def test_a_viewer_cannot_label_or_undo_and_no_row_is_added(db):
    rid = _response(db)
    writes.add_annotation(db, rid, "ann", "full_refusal")
    users.set_role(db, "val", "viewer", by="ann")
    before = _annotations(db)
    with pytest.raises(users.RoleError, match="val has the viewer role; this needs the reviewer role"):
        writes.add_annotation(db, rid, "val", "full_compliance")
    with pytest.raises(UserError):
        writes.undo_last_annotation(db, rid, "val")
    assert _annotations(db) == before


def test_a_viewer_cannot_start_a_judging_or_generation_run_in_the_store(db, monkeypatch):
    """Judging and generation writes are role-checked in the store, not only by the Run page's
    button: the orchestrator passes the app's user to the store, which refuses a viewer before it
    registers a judge or starts a run."""
    from judges import load
    from judges.generate import Generator
    from runs import Endpoint, orchestrator

    rid = _response(db)
    writes.add_annotation(db, rid, "ann", "full_refusal")
    users.set_role(db, "val", "viewer", by="ann")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    tables = lambda: [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("judges", "runs", "verdicts")]  # noqa: E731
    before = tables()
    with pytest.raises(users.RoleError, match="val has the viewer role"):
        orchestrator.judge(db, load("rules"), actor="val")
    with pytest.raises(users.RoleError, match="val has the viewer role"):
        orchestrator.generate(db, Generator("m"), endpoint=Endpoint("http://127.0.0.1:9/v1"), actor="val")
    assert tables() == before
    run_id, progress = orchestrator.judge(db, load("rules"), actor="ann")  # a reviewer (here admin) may
    assert progress.done == 1


def test_a_reviewer_can_label_and_undo(db):
    rid = _response(db)
    users.set_role(db, "ann", "admin")
    users.set_role(db, "rita", "reviewer", by="ann")
    writes.add_annotation(db, rid, "rita", "partial_refusal")
    assert store.reads.annotations_frame(db).annotator.tolist() == ["rita"]
    assert writes.undo_last_annotation(db, rid, "rita") is not None
    assert store.reads.annotations_frame(db).empty


def test_closed_team_makes_unknown_names_viewers_until_an_admin_grants_a_role(db):
    rid = _response(db)
    writes.add_annotation(db, rid, "ann", "full_refusal")  # admin
    users.set_self_signup(db, False, by="ann")
    with pytest.raises(users.RoleError):
        writes.add_annotation(db, rid, "stranger", "full_refusal")
    assert users.registered_role(db, "stranger") is None  # a refused write registers nobody
    users.set_role(db, "stranger", "reviewer", by="ann")
    writes.add_annotation(db, rid, "stranger", "full_refusal")
    assert _annotations(db) == 2


def test_only_an_admin_sets_roles_and_the_last_admin_stays(db):
    _response(db)
    users.set_role(db, "ann", "admin")
    users.set_role(db, "bob", "reviewer")
    with pytest.raises(users.RoleError, match="bob has the reviewer role; this needs the admin role"):
        users.set_role(db, "bob", "admin", by="bob")
    with pytest.raises(users.RoleError):
        users.set_self_signup(db, False, by="bob")
    with pytest.raises(users.RoleError, match="only admin"):
        users.set_role(db, "ann", "viewer", by="ann")
    with pytest.raises(UserError, match="unknown role"):
        users.set_role(db, "bob", "owner", by="ann")
    assert users.registered_role(db, "bob") == "reviewer"


def test_only_admin_defines_categories_or_deletes_showcases_but_reviewers_assign_and_add(db):
    rid = _response(db)
    pid = db.execute("SELECT prompt_id FROM responses WHERE id = ?", [rid]).fetchone()[0]
    users.set_role(db, "ann", "admin")
    users.set_role(db, "rita", "reviewer")
    users.set_role(db, "val", "viewer")
    with pytest.raises(users.RoleError):
        categories.define(db, "rita", "Privacy")
    categories.define(db, "ann", "Privacy")
    assert categories.assign(db, "rita", "Privacy", [pid]) == 1
    with pytest.raises(users.RoleError):
        categories.assign(db, "val", "Privacy", [pid])
    showcases.add_item(db, "rita", "Board", pid, [rid], "look")
    with pytest.raises(users.RoleError):
        showcases.add_item(db, "val", "Board", pid, [rid])
    with pytest.raises(users.RoleError):
        showcases.delete(db, "rita", "Board")
    showcases.delete(db, "ann", "Board")
    assert showcases.list_showcases(db) == []


def test_concurrent_first_writers_make_exactly_one_admin(db_path):
    import threading

    db = store.connect(db_path)
    rid = _response(db)
    barrier = threading.Barrier(6)

    def label(i):
        conn = store.connect(db_path)
        barrier.wait()
        writes.add_annotation(conn, rid, f"t{i}", "full_refusal")

    threads = [threading.Thread(target=label, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    roles = [u["role"] for u in users.list_users(store.connect(db_path))]
    assert sorted(roles) == ["admin"] + ["reviewer"] * 5


def _fingerprint(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_readonly_mode_writes_nothing_even_when_asked(db_path, monkeypatch):
    db = store.connect(db_path)
    rid = _response(db)
    pid = db.execute("SELECT prompt_id FROM responses WHERE id = ?", [rid]).fetchone()[0]
    writes.add_annotation(db, rid, "ann", "full_refusal")
    categories.define(db, "ann", "Privacy")
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    before = _fingerprint(db_path)
    monkeypatch.setenv("REFUSAL_REVIEW_READONLY", "1")
    ro = store.connect(db_path)
    counts = store.reads.stats(ro)
    attempts = [
        lambda: writes.add_annotation(ro, rid, "ann", "full_compliance"),
        lambda: writes.add_annotation(ro, rid, "newcomer", "full_compliance"),
        lambda: writes.undo_last_annotation(ro, rid, "ann"),
        lambda: categories.assign(ro, "ann", "Privacy", [pid]),
        lambda: showcases.add_item(ro, "ann", "Board", pid, [rid]),
        lambda: users.set_role(ro, "bob", "reviewer"),
    ]
    for attempt in attempts:
        with pytest.raises(store.StoreError, match="read-only"):
            attempt()
    assert store.reads.stats(ro) == counts
    assert users.list_users(ro) == [dict(name="ann", role="admin", created_at=users.list_users(ro)[0]["created_at"])]
    ro.conn.close()
    assert _fingerprint(db_path) == before


def test_cli_sets_and_lists_roles_as_the_database_owner(db_path):
    from click.testing import CliRunner

    from cli import cli

    runner = CliRunner()
    run = lambda *args: runner.invoke(cli, ["--db", str(db_path), *args])  # noqa: E731
    assert run("users", "set-role", "ann", "admin").exit_code == 0
    assert run("users", "set-role", "val", "viewer").exit_code == 0
    assert run("users", "self-signup", "off").exit_code == 0
    listed = run("users", "list").output
    assert "self-signup: off" in listed and "ann\tadmin" in listed and "val\tviewer" in listed
    refused = run("users", "set-role", "ann", "reviewer")
    assert refused.exit_code == 1 and "only admin" in refused.output and "Traceback" not in refused.output
    assert run("users", "set-role", "ann", "boss").exit_code == 2


# --- through the pages (AppTest) ------------------------------------------------------------------

from streamlit.testing.v1 import AppTest  # noqa: E402

from tests import fixture_db  # noqa: E402
from tests.conftest import ROOT, sign_in  # noqa: E402


@pytest.fixture
def team_path(db_path, monkeypatch):
    """The fixture database (alice is its admin: she labelled first), with a viewer and a showcase."""
    db = store.connect(db_path)
    built = fixture_db.build(db)
    users.set_role(db, "val", "viewer", by="alice")
    showcases.add_item(db, "alice", "Board", built.prompts["orig-2"], [built.responses[("orig-2", "gpt-4o-mini")]])
    db.conn.close()
    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))
    monkeypatch.delenv("REFUSAL_REVIEW_READONLY", raising=False)
    return db_path, built


def _page(name: str, user: str | None) -> AppTest:
    """The page as ``user`` sees it once signed in (a typed name is a claim: see the tests below)."""
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=30)
    if user:
        sign_in(at, user)
    return at.run()


def _count(path, table="annotations"):
    conn = store.connect(path, readonly=True)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.conn.close()


def _label_button(at, built):
    rid = built.responses[("orig-1", "gpt-4o-mini")]
    return next(b for b in at.button if b.key == f"rv_label_{rid}_full_compliance")


def test_review_page_viewer_label_is_refused_with_a_message_and_adds_no_row(team_path):
    path, built = team_path
    before = _count(path)
    at = _page("review.py", "val")
    assert _label_button(at, built).disabled  # the page knows ...
    at = _page("review.py", "vic")  # ... and a page drawn while vic could label (self-signup) ...
    users.set_role(store.connect(path), "vic", "viewer", by="alice")  # ... before an admin made vic a viewer
    _label_button(at, built).click().run()
    assert not at.exception
    assert any("viewer role" in e.value for e in at.error)
    assert _count(path) == before


def test_review_page_reviewer_label_is_written(team_path):
    path, built = team_path
    before = _count(path)
    at = _page("review.py", "rita")  # unknown name, self-signup on: a reviewer
    _label_button(at, built).click().run()
    assert not at.exception and not at.error
    assert _count(path) == before + 1
    assert users.registered_role(store.connect(path, readonly=True), "rita") == "reviewer"


def _widgets_app():
    import os

    import streamlit as st

    import store
    from ui import teams

    db = store.connect(os.environ["REFUSAL_REVIEW_DB"])
    prompt_id = int(os.environ["TEST_PROMPT_ID"])
    response_ids = [int(r) for r in os.environ["TEST_RESPONSE_IDS"].split(",")]
    teams.category_picker(db, prompt_id, st.session_state.get("reviewer"))
    teams.add_to_showcase(db, prompt_id, response_ids, st.session_state.get("reviewer"))


def _widgets(built, monkeypatch, user):
    monkeypatch.setenv("TEST_PROMPT_ID", str(built.prompts["orig-3"]))
    monkeypatch.setenv("TEST_RESPONSE_IDS", ",".join(str(built.responses[("orig-3", m)]) for m in fixture_db.MODELS))
    at = AppTest.from_function(_widgets_app, default_timeout=30)
    at.session_state["reviewer"] = user
    return at.run()


def test_team_widgets_are_disabled_for_a_viewer_and_the_store_refuses_a_stale_page(team_path, monkeypatch):
    path, built = team_path
    at = _widgets(built, monkeypatch, "val")
    assert at.multiselect[0].disabled and at.button[0].disabled
    assert "viewer role" in at.multiselect[0].help
    # rita's page was drawn while she was a reviewer; an admin then makes her a viewer: her clicks are refused
    at = _widgets(built, monkeypatch, "rita")
    users.set_role(store.connect(path), "rita", "viewer", by="alice")
    at.multiselect[0].set_value(["privacy"]).run()
    assert not at.exception and any("viewer role" in e.value for e in at.error)
    assert at.multiselect[0].value == []  # the widget shows what is stored, not what was refused
    at = _widgets(built, monkeypatch, "rita")
    assert at.button[0].disabled
    assert _count(path, "prompt_categories") == 1 and _count(path, "showcase_items") == 1


def test_team_widgets_let_a_reviewer_assign_and_add_to_a_showcase(team_path, monkeypatch):
    path, built = team_path
    at = _widgets(built, monkeypatch, "rita")
    at.multiselect[0].set_value(["privacy"]).run()
    assert not at.exception and not at.error
    assert categories.for_prompt(store.connect(path, readonly=True), built.prompts["orig-3"]) == ["privacy"]
    at.selectbox[0].set_value("New showcase…")
    at.text_input[0].input("Stakeholders")
    at.multiselect[1].set_value([built.responses[("orig-3", "llama-3-8b")]])
    at.text_area[0].input("hedges then refuses")
    at.button[0].click().run()
    assert not at.exception
    assert any("item 1 of" in s.value and "showcase=Stakeholders" in s.value for s in at.success)
    item = showcases.item(store.connect(path, readonly=True), "Stakeholders", 1)
    assert [r["model"] for r in item["responses"]] == ["llama-3-8b"] and item["comment"] == "hedges then refuses"


def test_readonly_mode_pages_say_so_and_write_nothing_even_when_asked(team_path, monkeypatch):
    path, built = team_path
    conn = store.connect(path)
    conn.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.conn.close()
    before = _fingerprint(path), {t: _count(path, t) for t in ("annotations", "prompt_categories", "showcase_items",
                                                                 "showcases", "users")}
    monkeypatch.setenv("REFUSAL_REVIEW_READONLY", "1")
    at = _page("review.py", "alice")  # the admin, in read-only mode
    assert not at.exception and _label_button(at, built).disabled
    at = _widgets(built, monkeypatch, "alice")
    assert at.multiselect[0].disabled and at.button[0].disabled
    assert "read-only" in at.multiselect[0].help
    at = _page("showcase.py", "alice")
    assert not at.exception and next(b for b in at.button if b.key == "delete-Board").disabled
    for page in ("categories.py", "users.py"):
        at = _page(page, "alice")
        assert not at.exception and any("read-only" in c.value for c in at.caption)
    at = _page("export.py", "alice")  # reading is what read-only mode is for
    at.button[0].click().run()
    assert not at.exception and at.get("download_button")
    after = _fingerprint(path), {t: _count(path, t) for t in before[1]}
    assert after == before


def test_showcase_page_only_an_admin_deletes(team_path):
    path, _ = team_path
    at = _page("showcase.py", "rita")
    assert next(b for b in at.button if b.key == "delete-Board").disabled
    users.set_role(store.connect(path), "bob", "admin", by="alice")
    at = _page("showcase.py", "bob")  # drawn while bob is an admin ...
    users.set_role(store.connect(path), "bob", "reviewer", by="alice")  # ... who is then demoted
    next(b for b in at.button if b.key == "delete-Board").click().run()
    assert not at.exception
    assert any("reviewer role; this needs the admin role" in e.value for e in at.error)
    assert _count(path, "showcases") == 1
    at = _page("showcase.py", "alice")
    next(b for b in at.button if b.key == "delete-Board").click().run()
    assert not at.exception and _count(path, "showcases") == 0
