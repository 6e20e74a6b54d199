"""A served app (issue 12 items 1, 2, 5): a visitor picks among the operator's databases by name and
can neither type a path nor create a file; a typed name is a claim that never acts as an admin;
look-alike names cannot register beside the name they imitate; link parameters quoted in the app's
messages stay text. Local mode (one person on this machine) is the only place for a typed path
and a trusted typed name."""

from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

import store
from store import categories, users
from tests.conftest import ROOT, sign_in
from tests.fixture_db import build
from tests.test_untrusted_text import FULL, assert_inert, visible
from ui import deployment

HOSTILE_LINK = "![b](http://127.0.0.1:9/x.png)[Session expired - sign in](http://127.0.0.1:9/login)"


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Two team databases in a folder (and a file that is not a database), served to the network."""
    folder = tmp_path / "teams"
    folder.mkdir()
    for name in ("red", "blue"):
        conn = store.connect(folder / f"{name}.db")
        build(conn)
        conn.conn.close()
    (folder / "notes.txt").write_text("not a database")
    (folder / "nested").mkdir()
    (folder / "nested" / "other.db").write_bytes(b"")
    for var in ("REFUSAL_REVIEW_DB", "REFUSAL_REVIEW_READONLY", "REFUSAL_REVIEW_LOCAL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("REFUSAL_REVIEW_DATABASES", str(folder))
    monkeypatch.chdir(tmp_path)  # the default database, were it ever used, would land here
    return folder


@pytest.fixture
def loopback():
    """The server listening on 127.0.0.1 only, as `--server.address 127.0.0.1` sets it."""
    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield
    config.set_option("server.address", before)


def _app(page: str | None = None, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _sidebar_inputs(at) -> list[str]:
    return [t.label for t in at.sidebar.text_input]


# --- item 1: which databases ------------------------------------------------------------------------

def test_a_served_app_offers_the_operators_databases_by_name_and_no_path_box(served, tmp_path):
    at = _app()
    assert "Database" not in _sidebar_inputs(at) and "Database file" not in _sidebar_inputs(at)
    picker = at.sidebar.selectbox(key="database")
    assert picker.options == ["blue", "red"]  # *.db files directly in the folder, nothing else
    picker.select("red").run()
    at.switch_page("pages/overview.py").run()
    assert any("Database red" in c.value for c in at.caption)
    assert not list(tmp_path.glob("*.db"))  # no default database was created beside them


@pytest.mark.parametrize("typed", ["../../etc/passwd", "/tmp/visitor.db", "new.db"])
def test_a_path_or_name_a_visitor_slips_into_the_session_opens_nothing_else(served, tmp_path, typed):
    at = _app("pages/overview.py", db_path=typed, database=typed)
    assert any("Database blue" in c.value for c in at.caption)  # the first listed database
    assert not Path(typed).exists() and not (tmp_path / typed).exists()


def test_readonly_mode_never_opens_a_file_off_the_list_even_in_local_mode(served, monkeypatch, loopback):
    monkeypatch.setenv("REFUSAL_REVIEW_READONLY", "1")
    monkeypatch.setenv("REFUSAL_REVIEW_LOCAL", "1")
    at = _app("pages/overview.py", db_path="/tmp/elsewhere.db")
    assert "Database file" not in _sidebar_inputs(at)
    assert any("read-only mode" in c.value for c in at.sidebar.caption)
    assert deployment.database_path(None, "/tmp/elsewhere.db") == str(served / "blue.db")


def test_local_mode_needs_a_loopback_address_and_no_sign_in(served, monkeypatch, loopback):
    monkeypatch.setenv("REFUSAL_REVIEW_LOCAL", "1")
    config.set_option("server.address", "")  # every interface: others could reach the path box
    at = _app()
    assert "Database file" not in _sidebar_inputs(at)
    assert any("--server.address 127.0.0.1" in c.value for c in at.sidebar.caption)
    config.set_option("server.address", "127.0.0.1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    sign_in(at, "lead@example.com").run()
    assert "Database file" not in _sidebar_inputs(at)


def test_local_mode_takes_a_typed_path_and_says_it_is_for_one_person(served, monkeypatch, loopback, tmp_path):
    monkeypatch.setenv("REFUSAL_REVIEW_LOCAL", "1")
    at = _app()
    assert any("Local mode" in c.value for c in at.sidebar.caption)
    box = next(t for t in at.sidebar.text_input if t.label == "Database file")
    box.input(str(tmp_path / "mine.db")).run()
    assert not at.exception and (tmp_path / "mine.db").exists()


# --- item 2: a typed name is a claim ----------------------------------------------------------------

@pytest.fixture
def team(served):
    """red.db with alice as its admin (she labelled first, from the CLI's side of the store)."""
    return store.connect(served / "red.db")


def test_typing_the_admins_name_gives_no_admin_powers(team):
    assert users.role_of(team, "alice") == "admin"
    at = _app("pages/users.py", database="red", reviewer="alice")
    assert not at.get("form") and not at.toggle  # no "Set role" form, no self-signup switch
    assert any("claim, not an identity" in c.value for c in at.caption)
    assert any("claim, not a sign-in" in c.value for c in at.sidebar.caption)
    assert any("Role: **reviewer**" in c.value for c in at.sidebar.caption)


def test_the_store_refuses_admin_actions_from_a_claim(team):
    claim = users.Claim("alice")
    for write in (lambda: users.set_role(team, "mallory", "admin", by=claim),
                  lambda: users.set_self_signup(team, False, by=claim),
                  lambda: categories.define(team, claim, "Stolen")):
        with pytest.raises(users.RoleError, match="typed name, not a sign-in"):
            write()
    assert users.registered_role(team, "mallory") is None and "Stolen" not in categories.names(team)


def test_a_claim_writing_first_becomes_a_reviewer_not_the_admin(db):
    assert users.role_of(db, users.Claim("first")) == "reviewer"
    users.require_role(db, users.Claim("first"), "reviewer")
    assert users.registered_role(db, "first") == "reviewer"
    assert users.role_of(db, "owner") == "reviewer"  # the team exists now; the CLI names its admin


def test_signed_in_admin_and_local_owner_may_act_as_admin(team, monkeypatch, loopback):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["database"] = "red"
    sign_in(at, "alice").run()
    at.switch_page("pages/users.py").run()
    assert at.get("form")
    monkeypatch.setenv("REFUSAL_REVIEW_LOCAL", "1")
    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(Path(team.conn.execute("PRAGMA database_list").fetchone()[2])))
    at = _app("pages/users.py", reviewer="alice")
    assert at.get("form")  # local mode: the person at the keyboard owns the file


@pytest.mark.parametrize("name, why", [
    ("b\u043ess", "looks like the registered user 'boss'"),  # Cyrillic o
    ("\u0432oss", "looks like the registered user 'boss'"),  # Cyrillic ve reads as b
    ("Boss", "looks like the registered user 'boss'"),
    ("bo\u200bss", "invisible characters"),  # zero-width space
    ("bo\u202ess", "invisible characters"),  # a right-to-left override
])
def test_look_alike_names_cannot_register_beside_the_one_they_imitate(db, name, why):
    users.require_role(db, "boss", "reviewer")
    with pytest.raises(users.RoleError, match=why):
        users.require_role(db, users.Claim(name), "reviewer")
    assert [u["name"] for u in users.list_users(db)] == ["boss"]


@pytest.mark.parametrize("typed", ["Boss", "bo\u200bss", "\uff42\uff4f\uff53\uff53", "BOSS  "])
def test_the_app_records_a_case_or_invisible_variant_as_the_registered_user(team, typed):
    users.require_role(team, "boss", "reviewer")
    at = _app("pages/review.py", database="red", reviewer=typed)
    assert any("Recorded as **boss**" in c.value for c in at.sidebar.caption)
    assert users.resolve(team, typed) == "boss"


def test_the_app_warns_when_a_name_imitates_a_registered_one(team):
    users.require_role(team, "boss", "reviewer")
    at = _app("pages/review.py", database="red", reviewer="b\u043ess")
    assert any("looks like the registered user" in w.value for w in at.sidebar.warning)


# --- item 5: link parameters quoted in messages -----------------------------------------------------

@pytest.mark.parametrize("page, query, element", [
    ("pages/review.py", {"prompt": HOSTILE_LINK}, "warning"),
    ("pages/showcase.py", {"showcase": HOSTILE_LINK}, "error"),
])
def test_a_hostile_link_parameter_is_quoted_as_text(served, page, query, element):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["reviewer"] = "carol"
    at.run()
    at.query_params.update(query)
    at.switch_page(page).run()
    assert not at.exception
    quoted = [m.value for m in getattr(at, element) if "127.0.0.1" in m.value]
    assert quoted, [m.value for m in getattr(at, element)]
    for message in quoted:
        assert_inert(message)
        assert "".join(repr(HOSTILE_LINK).split()) in visible(message, FULL)  # shown as its characters


def test_the_list_is_a_folder_or_files_and_the_default_comes_first(tmp_path, monkeypatch):
    for name in ("a.db", "b.db"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(tmp_path / "b.db"))
    monkeypatch.setenv("REFUSAL_REVIEW_DATABASES", f"{tmp_path / 'a.db'}:{tmp_path / 'b.db'}:{tmp_path / 'new.db'}")
    assert list(deployment.databases()) == ["b", "a", "new"]  # a listed file may be new: the operator named it
    monkeypatch.setenv("REFUSAL_REVIEW_DATABASES", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    assert deployment.databases() == {"b": str(tmp_path / "b.db")}
