"""Hostile and broken input, property-based, over every importer.

Whatever bytes a file holds, an import either succeeds or raises the importer's own SourceError,
and a failed import leaves the database exactly as it was: never a traceback, never a partial import.
"""

import functools
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import store
from exports import files as export
from sources import IMPORTERS, SourceError, import_file
from tests.conftest import FIXTURES, assert_refused, skip_or_fail

# kind -> (a valid fixture of that kind, the options a user would pass)
CASES = {
    "coconot": ("coconot_small.jsonl", {}),
    "orbench": ("orbench_alignment_results.csv", {"orbench_set": "hard-1k", "model": "m"}),
    "xstest": ("xstest_completions_small.csv", {"model": "m"}),
    "open-instruct": ("open_instruct_predictions.jsonl", {"model": "m"}),
    "generic": ("generic_small.csv", {"dataset": "mine", "model": "m", "mapping": ["prompt=question", "response=answer"]}),
    "refusal-review": (None, {}),  # our own export: built in _refusal_review_sample
    "inspect": ("inspect_xstest_mini.eval", {}),  # made by a real inspect_ai eval (tests/eval_tools.py)
    "promptfoo": ("promptfoo_results.json", {}),
    "lm-eval": ("lm_eval/samples_refusal_mini_2026-11-30T00-35-45.249850.jsonl", {"model": "m"}),
}


def test_every_importer_is_covered():
    assert set(CASES) == set(IMPORTERS)


def _sample(kind: str) -> tuple[str, bytes]:
    name, _ = CASES[kind]
    if name is None:
        row = {"id": "r1", "dataset": "mine", "category": "c", "prompt": "p", "model": "m", "response": "r"}
        return "export.jsonl", (json.dumps(row) + "\n").encode()
    if kind == "inspect":
        try:
            import inspect_ai  # noqa: F401
        except ImportError:
            skip_or_fail("inspect_ai is not installed (pip install -r requirements-test.txt)")
    return Path(name).name, (FIXTURES / name).read_bytes()


def _counts(db):
    return tuple(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in ("prompts", "responses", "verdicts", "annotations", "judges"))


@functools.cache
def harness(kind: str) -> "Harness":
    return Harness()


class Harness:
    """One database per test; every example is checked against the counts it started from."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="hostile-"))
        self.db = store.connect(self.dir / "h.db")

    def check(self, kind: str, name: str, data: bytes):
        path = self.dir / name
        path.write_bytes(data)
        before = _counts(self.db)
        try:
            import_file(self.db, kind, path, **CASES[kind][1])
        except SourceError as exc:
            assert str(path) in str(exc), f"the error does not name the file: {exc}"
            assert _counts(self.db) == before, "a failed import changed the database"
        assert not self.db.conn.in_transaction


def _mutate(data: bytes, op: str, pos: float, blob: bytes) -> bytes:
    at = int(len(data) * pos)
    if op == "truncate":
        return data[:at]
    if op == "insert":
        return data[:at] + blob + data[at:]
    if op == "nul":
        return data[:at] + b"\x00" + data[at:]
    if op == "latin1":  # a stretch of text saved in another encoding
        return data[:at] + "café naïve ½".encode("latin-1") + data[at:]
    if op == "utf16":  # the file re-saved as UTF-16 (a binary log's bytes taken as Latin-1 first)
        try:
            return data.decode("utf-8").encode("utf-16")
        except UnicodeDecodeError:
            return data.decode("latin-1").encode("utf-16")
    if op == "duplicate-line":
        lines = data.splitlines(keepends=True)
        return b"".join(lines + lines[1:2])
    if op == "huge-field":
        return data.replace(b"p", b"p" + b"x" * 2_000_000, 1)
    raise AssertionError(op)


KINDS = sorted(CASES)
OPS = ["truncate", "insert", "nul", "latin1", "utf16", "duplicate-line", "huge-field"]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes(kind, data):
    name, _ = _sample(kind)
    harness(kind).check(kind, name, data)


def test_an_eval_archive_with_a_damaged_directory_size_is_a_clear_error():
    """The end-of-directory record of a zip gives its directory's size and offset; a wrong size made
    zipfile raise BadZipFile past the importer (found by the mutation test above)."""
    name, data = _sample("inspect")
    end = data.rindex(b"PK\x05\x06")  # the end-of-central-directory record; the directory's size at +12
    damaged = data[:end + 12] + (len(data) * 2).to_bytes(4, "little") + data[end + 16:]
    harness("inspect").check("inspect", name, damaged)


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(op=st.sampled_from(OPS), pos=st.floats(0, 1), blob=st.binary(min_size=1, max_size=40))
def test_mutated_valid_files(kind, op, pos, blob):
    name, data = _sample(kind)
    harness(kind).check(kind, name, _mutate(data, op, pos, blob))


_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
_FIELDS = ["id", "category", "subcategory", "prompt", "response", "output", "model", "dataset", "label", "chosen",
           "rejected"]


@pytest.mark.parametrize("kind", ["coconot", "open-instruct", "refusal-review"])
@SETTINGS
@given(rows=st.lists(st.dictionaries(st.sampled_from(_FIELDS), _values, max_size=8), min_size=1, max_size=5))
def test_jsonl_with_wrong_types(kind, rows):
    name, _ = _sample(kind)
    data = "\n".join(json.dumps(r) for r in rows).encode()
    harness(kind).check(kind, name, data)


@pytest.mark.parametrize("kind", KINDS)
def test_the_valid_samples_import_and_a_cut_one_fails_cleanly(kind):
    """The properties above only mean something if the samples are valid to begin with."""
    name, data = _sample(kind)
    h = harness(kind)
    h.check(kind, name, data)
    assert _counts(h.db)[0] > 0
    before = _counts(h.db)
    with pytest.raises(SourceError):
        import_file(h.db, kind, _write(h, name, b""), **CASES[kind][1])
    assert _counts(h.db) == before


def _write(h, name, data):
    path = h.dir / name
    path.write_bytes(data)
    return path


# Named hostile values (issue 12, item 12): each is the importer's own error naming file, line and field.

def _export_line(**fields) -> str:
    row = {"id": "r1", "dataset": "mine", "category": "c", "prompt": "p", "model": "m", "response": "r"}
    return json.dumps({**row, **fields}, ensure_ascii=False)


def test_line_separators_inside_json_strings_are_text_and_our_own_export_reads_back(db, tmp_path):
    text = "one\u2028two\u2029three\u0085four"  # str.splitlines() breaks a line at each of these
    path = tmp_path / "separators.jsonl"
    path.write_text(_export_line(prompt=text, response=text) + "\n" + _export_line(id="r2") + "\n", encoding="utf-8")
    assert import_file(db, "refusal-review", path).prompts == 2
    assert db.execute("SELECT text FROM prompts WHERE source_id = 'r1'").fetchone()[0] == text
    out = export.write(db, "jsonl", tmp_path / "out.jsonl")[0]
    assert "\u2028" in out.read_text(encoding="utf-8")  # written raw, as the export writes it
    fresh = store.connect(tmp_path / "fresh.db")
    assert import_file(fresh, "refusal-review", out).responses == 2
    assert fresh.execute("SELECT text FROM responses WHERE text LIKE 'one%'").fetchone()[0] == text


@pytest.mark.parametrize("bad, field, match", [
    (_export_line(settings="{not json"), "settings", "expected an object"),
    (_export_line(settings=[1]), "settings", "expected an object"),
    ('{"id": "r1", "dataset": "mine", "prompt": ' + "[" * 100_000 + "]" * 100_000 + "}", None, "nested too deeply"),
    (json.dumps({"id": "r1", "dataset": "mine", "prompt": "half \ud83d a pair"}), "prompt", "lone surrogate"),
    ('{"id": ' + "9" * 5000 + ', "dataset": "mine", "prompt": "p"}', None, "digits"),
    (_export_line(response="kept\u0000cut here"), "response", "NUL character"),
    (_export_line(verdicts=[{"judge": "j", "label": "full_refusal", "rationale": "a\u0000b"}]),
     "verdicts[0].rationale", "NUL character"),
    (_export_line(labels=[{"annotator": "ann", "label": "full_refusal", "note": {"x": 1}}]), "labels[0].note",
     "expected text"),
], ids=["settings-not-json", "settings-list", "deep-nesting", "lone-surrogate", "5000-digits", "nul", "nul-nested",
        "note-object"])
def test_hostile_json_values_are_named_errors(db, tmp_path, bad, field, match):
    assert_refused(db, "refusal-review", tmp_path / "hostile.jsonl", _export_line(id="ok") + "\n" + bad + "\n",
                   2, field, match=match)


def test_refused_settings_leave_every_export_working(db, tmp_path):
    assert_refused(db, "refusal-review", tmp_path / "s.jsonl", _export_line(settings="{not json") + "\n", 1,
                   "settings")
    good = tmp_path / "good.jsonl"
    good.write_text(_export_line(settings={"temperature": 0.0}) + "\n")
    import_file(db, "refusal-review", good)
    for fmt in ("jsonl", "csv", "parquet", "coconot"):
        assert export.write(db, fmt, tmp_path / f"out.{fmt}")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows[0]["settings"] == {"temperature": 0.0}


def test_nul_in_a_parquet_cell_is_a_named_error(db, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "nul.parquet"
    pq.write_table(pa.table({"prompt": ["fine", "cut\x00here"], "response": ["a", "b"]}), path)
    with pytest.raises(SourceError, match="NUL") as info:
        import_file(db, "generic", path, dataset="d", model="m")
    assert (info.value.line, info.value.field) == (2, "prompt")
    assert db.execute("SELECT count(*) FROM prompts").fetchone()[0] == 0
