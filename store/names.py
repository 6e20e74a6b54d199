"""What judges and models are called on screen and in reports.

A judge's stored name carries a hash of what shapes its answers (``rules:70c94a93``), so two versions
are two judges; a model may be stored as ``unknown`` when a file did not name it (CoCoNot's rejected
preference responses). Neither is for a stakeholder to read. Every page shows ``shown_names``: an
admin's chosen display name where there is one, else a default: a judge without its trailing hash
when that is still unique, ``unknown`` as "unnamed model". Stored names never change, so figures,
exports and links stay exact; the display name is only a label.

Commands and filters accept a judge by its full name, its display name or a unique prefix
(``resolve_judge``).
"""

import re

import sqlite_utils

from errors import UserError
from store import runs, users
from store.connection import NOW, write_transaction

KINDS = ("judge", "model")
MAX_LENGTH = 80
UNNAMED_MODEL = "unnamed model"
_HASH = re.compile(r":[0-9a-f]{8,}$")


def _stored(db: sqlite_utils.Database, kind: str) -> list[str]:
    sql = "SELECT name FROM judges ORDER BY name" if kind == "judge" else \
        "SELECT DISTINCT model FROM responses ORDER BY model"
    return [r[0] for r in db.execute(sql)]


def default_names(kind: str, names: list[str]) -> dict[str, str]:
    """Display names before any admin choice: a judge's name without its hash when no other judge
    would then read the same; ``unknown`` models as "unnamed model"."""
    if kind == "model":
        return {n: UNNAMED_MODEL if n == "unknown" else n for n in names}
    short = {n: _HASH.sub("", n) for n in names}
    taken: dict[str, int] = {}
    for s in short.values():
        taken[s] = taken.get(s, 0) + 1
    return {n: s if taken[s] == 1 and s not in names or s == n else n for n, s in short.items()}


def shown_names(db: sqlite_utils.Database) -> dict[str, dict[str, str]]:
    """{"judge": {stored name: display name}, "model": {...}} for every judge and model present."""
    chosen = {(k, n): d for k, n, d in db.execute("SELECT kind, name, display FROM display_names")}
    out = {}
    for kind in KINDS:
        names = _stored(db, kind)
        out[kind] = {n: chosen.get((kind, n), shown) for n, shown in default_names(kind, names).items()}
    return out


def set_display_name(db: sqlite_utils.Database, kind: str, name: str, display: str, by: str | None = None) -> None:
    """An admin names a judge or model for display (``by`` None: the CLI, acting as the database's
    owner); an empty ``display`` goes back to the default. Two judges (or two models) cannot be
    shown under one name."""
    if kind not in KINDS:
        raise UserError(f"unknown kind {kind!r}; expected judge or model")
    display = " ".join((display or "").split())
    if len(display) > MAX_LENGTH:
        raise UserError(f"a display name has at most {MAX_LENGTH} characters")
    if name not in _stored(db, kind):
        raise UserError(f"no {kind} named {name!r} in this database")
    with users.writing_as(db, by, "admin") if by is not None else write_transaction(db):
        if not display:
            db.execute("DELETE FROM display_names WHERE kind = ? AND name = ?", [kind, name])
            return
        clash = [n for n, shown in shown_names(db)[kind].items() if shown == display and n != name]
        if clash or (display in _stored(db, kind) and display != name):
            raise UserError(f"{display!r} already names another {kind} ({(clash or [display])[0]}); choose another")
        db.execute(f"""INSERT INTO display_names (kind, name, display, updated_by) VALUES (?, ?, ?, ?)
                      ON CONFLICT (kind, name) DO UPDATE SET display = excluded.display,
                      updated_by = excluded.updated_by, updated_at = {NOW}""",
                   [kind, name, display, by])


def resolve_judge(db: sqlite_utils.Database, text: str, missing_ok: bool = False) -> str:
    """A judge's stored name from its stored name, its display name, or a unique prefix of either
    kind of name (``rules`` -> ``rules:70c94a93``). A prefix of several is an error naming them;
    a name matching nothing is one too, unless ``missing_ok`` (the caller then says what is missing)."""
    text = (text or "").strip()
    if runs.judge_id(db, text) is not None:
        return text
    shown = shown_names(db)["judge"]
    by_display = [n for n, d in shown.items() if d == text]
    if len(by_display) == 1:
        return by_display[0]
    matches = sorted({n for n, d in shown.items() if n.startswith(text) or d.startswith(text)})
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(f"{text!r} matches several judges: {', '.join(matches)}; give more of the name")
    if missing_ok:
        return text
    return runs.resolve_judge(db, text)  # says there is no such judge, and which there are
