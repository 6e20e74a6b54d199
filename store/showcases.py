"""Showcases: named, commented selections of items (a prompt with some of its responses) that a
team shows to people who will never open the review page.

A reviewer creates showcases and adds or removes items; only an admin deletes a whole showcase.
Items are shown in the order they were added.
"""

import json

import sqlite_utils

from errors import UserError
from store import review, users
from store.connection import write_transaction


class ShowcaseError(UserError):
    """A showcase or item that does not exist, or an item that does not fit (the message says why)."""


def _name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ShowcaseError("a showcase needs a name")
    return name


def _id(db: sqlite_utils.Database, name: str) -> int:
    row = db.execute("SELECT id FROM showcases WHERE name = ?", [name]).fetchone()
    if not row:
        raise ShowcaseError(f"no showcase named {name!r}")
    return row[0]


def create(db: sqlite_utils.Database, user: str, name: str, description: str | None = None) -> int:
    """Create a showcase (or return the existing one of that name). Reviewer or admin."""
    name = _name(name)
    with users.writing_as(db, user, "reviewer"):
        db.execute("INSERT INTO showcases (name, description, created_by) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                   [name, (description or "").strip() or None, user.strip()])
        return _id(db, name)


def delete(db: sqlite_utils.Database, user: str, name: str) -> None:
    """Delete a showcase and its items (the prompts, responses and labels stay). Admin only."""
    with users.writing_as(db, user, "admin"):
        showcase_id = _id(db, _name(name))
        db.execute("DELETE FROM showcase_items WHERE showcase_id = ?", [showcase_id])
        db.execute("DELETE FROM showcases WHERE id = ?", [showcase_id])


def add_item(db: sqlite_utils.Database, user: str, showcase: str, prompt_id: int, response_ids,
             comment: str | None = None) -> int:
    """Add a prompt with the chosen responses (ids of that prompt's responses) to a showcase,
    creating the showcase when it does not exist yet. Reviewer or admin. Returns the item id."""
    response_ids = [int(r) for r in dict.fromkeys(response_ids)]
    with users.writing_as(db, user, "reviewer"):
        if not db.execute("SELECT 1 FROM prompts WHERE id = ?", [prompt_id]).fetchone():
            raise ShowcaseError(f"no prompt with id {prompt_id}")
        if response_ids:
            marks = ", ".join("?" * len(response_ids))
            owned = {r[0] for r in db.execute(
                f"SELECT id FROM responses WHERE prompt_id = ? AND id IN ({marks})", [prompt_id, *response_ids])}
            stray = [r for r in response_ids if r not in owned]
            if stray:
                raise ShowcaseError(f"response {stray[0]} is not a response to prompt {prompt_id}")
        showcase_id = create(db, user, showcase)
        return db.execute(
            "INSERT INTO showcase_items (showcase_id, prompt_id, response_ids, comment, added_by) VALUES (?, ?, ?, ?, ?)",
            [showcase_id, prompt_id, json.dumps(response_ids), (comment or "").strip() or None, user.strip()],
        ).lastrowid


def seed(db: sqlite_utils.Database, name: str, description: str, author: str,
         items: list[tuple[int, list[int], str]]) -> int:
    """A showcase that a program brings with its data (the demo's), written as the database's owner:
    no role check and nobody registered, so the first real user still becomes admin. ``items``:
    (prompt id, response ids, comment). An existing showcase of that name is left as it is."""
    name = _name(name)
    with write_transaction(db):
        found = db.execute("SELECT id FROM showcases WHERE name = ?", [name]).fetchone()
        if found:
            return found[0]
        showcase_id = db.execute("INSERT INTO showcases (name, description, created_by) VALUES (?, ?, ?)",
                                 [name, description, author]).lastrowid
        db.conn.executemany(
            "INSERT INTO showcase_items (showcase_id, prompt_id, response_ids, comment, added_by) VALUES (?, ?, ?, ?, ?)",
            [(showcase_id, prompt_id, json.dumps(ids), comment, author) for prompt_id, ids, comment in items])
        return showcase_id


def remove_item(db: sqlite_utils.Database, user: str, item_id: int) -> None:
    with users.writing_as(db, user, "reviewer"):
        if not db.execute("DELETE FROM showcase_items WHERE id = ?", [item_id]).rowcount:
            raise ShowcaseError(f"no showcase item with id {item_id}")


def models_of(db: sqlite_utils.Database, response_ids) -> dict[int, str]:
    """{response id: model} for the ids given, in their order (for choosing what to show)."""
    ids = [int(r) for r in response_ids]
    if not ids:
        return {}
    found = dict(db.execute(f"SELECT id, model FROM responses WHERE id IN ({', '.join('?' * len(ids))})", ids))
    return {i: found[i] for i in ids if i in found}


def position(db: sqlite_utils.Database, showcase: str, item_id: int) -> int:
    """The 1-based number of an item in its showcase (what the presenter link uses)."""
    return db.execute("SELECT count(*) FROM showcase_items WHERE showcase_id = ? AND id <= ?",
                      [_id(db, _name(showcase)), item_id]).fetchone()[0]


def list_showcases(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query(
        """SELECT s.name, s.description, s.created_by, s.created_at,
                  (SELECT count(*) FROM showcase_items i WHERE i.showcase_id = s.id) AS items
           FROM showcases s ORDER BY s.name"""))


def items(db: sqlite_utils.Database, showcase: str) -> list[dict]:
    """The showcase's items in order, light: id, prompt_id, source_id, dataset, prompt text, comment, added_by."""
    showcase_id = _id(db, _name(showcase))
    rows = list(db.query(
        """SELECT i.id, i.prompt_id, p.source_id, p.dataset, p.text AS prompt, i.comment, i.added_by, i.response_ids
           FROM showcase_items i JOIN prompts p ON p.id = i.prompt_id
           WHERE i.showcase_id = ? ORDER BY i.id""", [showcase_id]))
    for row in rows:
        row["responses"] = len(json.loads(row.pop("response_ids")))
    return rows


def item(db: sqlite_utils.Database, showcase: str, number: int) -> dict:
    """Everything the presenter view shows for item ``number`` (1-based) of a showcase: the prompt
    and its categories, each chosen response with its verdicts and current human labels, the
    comment and ``total`` (items in the showcase)."""
    showcase_id = _id(db, _name(showcase))
    total = db.execute("SELECT count(*) FROM showcase_items WHERE showcase_id = ?", [showcase_id]).fetchone()[0]
    if not 1 <= number <= total:
        raise ShowcaseError(f"showcase {showcase!r} has {total} items; there is no item {number}")
    item_id, prompt_id, response_ids, comment, added_by = db.execute(
        """SELECT id, prompt_id, response_ids, comment, added_by FROM showcase_items
           WHERE showcase_id = ? ORDER BY id LIMIT 1 OFFSET ?""", [showcase_id, number - 1]).fetchone()
    found = review.fetch_item(db, prompt_id)
    prompt = dict(source_id=found.source_id, dataset=found.dataset, split=found.split, category=found.category,
                  subcategory=found.subcategory, expected=found.expected, text=found.text,
                  categories=found.team_categories)
    by_id = {r.id: r for r in found.responses}
    responses = [dict(id=r.id, model=r.model, text=r.text,
                      verdicts=[dict(judge=v.judge, label=v.label, rationale=v.rationale) for v in r.verdicts],
                      labels=[dict(annotator=a.annotator, label=a.label, note=a.note) for a in r.current.values()])
                 for r in (by_id.get(i) for i in json.loads(response_ids)) if r is not None]
    return dict(id=item_id, number=number, total=total, prompt_id=prompt_id, prompt=prompt, responses=responses,
                comment=comment, added_by=added_by)

