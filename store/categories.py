"""A team's own taxonomy of noncompliance, on top of the benchmarks' categories.

A category has a name, a description, an optional parent and a rubric: the text the LLM judge and
the reviewers read when a prompt is in it. Only an admin defines categories; a reviewer assigns
prompts to them (one from the review page, or many at once from a filter). Names cannot hold a
comma, because ``reads.responses_frame`` carries a response's categories comma-joined.
"""

import sqlite_utils

from errors import UserError
from store import users
from store.connection import write_transaction

MAX_NAME = 80


class CategoryError(UserError):
    """A category that cannot be defined or used as asked (the message says why)."""


def _name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise CategoryError("a category needs a name")
    if "," in name:
        raise CategoryError(f"category name {name!r} contains a comma; use another separator")
    if len(name) > MAX_NAME:
        raise CategoryError(f"category name is {len(name)} characters; at most {MAX_NAME}")
    return name


def _id(db: sqlite_utils.Database, name: str) -> int:
    row = db.execute("SELECT id FROM categories WHERE name = ?", [name]).fetchone()
    if not row:
        raise CategoryError(f"no category named {name!r}")
    return row[0]


def define(db: sqlite_utils.Database, user: str, name: str, description: str | None = None,
           parent: str | None = None, rubric: str | None = None, rename_to: str | None = None) -> int:
    """Create category ``name`` or update it (all its fields; ``rename_to`` renames it). Admin only."""
    name = _name(name)
    new_name = _name(rename_to) if rename_to else name
    with users.writing_as(db, user, "admin"):
        parent_id = _id(db, _name(parent)) if parent else None
        row = db.execute("SELECT id FROM categories WHERE name = ?", [name]).fetchone()
        if row and parent_id is not None and row[0] in _ancestors(db, parent_id):
            raise CategoryError(f"{parent!r} is inside {name!r}; a category cannot be its own ancestor")
        if new_name != name and db.execute("SELECT 1 FROM categories WHERE name = ?", [new_name]).fetchone():
            raise CategoryError(f"a category named {new_name!r} already exists")
        fields = [new_name, (description or "").strip() or None, parent_id, (rubric or "").strip() or None]
        if row:
            db.execute("UPDATE categories SET name = ?, description = ?, parent_id = ?, rubric = ? WHERE id = ?",
                       fields + [row[0]])
            return row[0]
        return db.execute("INSERT INTO categories (name, description, parent_id, rubric) VALUES (?, ?, ?, ?)",
                          fields).lastrowid


def _ancestors(db: sqlite_utils.Database, category_id: int) -> list[int]:
    """``category_id`` and every category above it, nearest first."""
    return [r[0] for r in db.execute(
        """WITH RECURSIVE up(id, parent_id, depth) AS (
               SELECT id, parent_id, 0 FROM categories WHERE id = ?
               UNION ALL SELECT c.id, c.parent_id, up.depth + 1 FROM categories c JOIN up ON c.id = up.parent_id
               WHERE up.depth < 100)
           SELECT id FROM up ORDER BY depth""", [category_id])]


def delete(db: sqlite_utils.Database, user: str, name: str) -> None:
    """Remove a category and its assignments (prompts and labels stay). Admin only; a category with
    sub-categories must be emptied first."""
    with users.writing_as(db, user, "admin"):
        category_id = _id(db, _name(name))
        children = [r[0] for r in db.execute("SELECT name FROM categories WHERE parent_id = ?", [category_id])]
        if children:
            raise CategoryError(f"{name!r} has sub-categories ({', '.join(children)}); move or delete them first")
        db.execute("DELETE FROM prompt_categories WHERE category_id = ?", [category_id])
        db.execute("DELETE FROM categories WHERE id = ?", [category_id])


def assign(db: sqlite_utils.Database, user: str, category: str, prompt_ids) -> int:
    """Put prompts in a category (one id, or a whole filter's list). Reviewer or admin. Returns how
    many were newly assigned; assigning twice changes nothing."""
    ids = sorted({int(i) for i in prompt_ids})
    with users.writing_as(db, user, "reviewer"):
        category_id = _id(db, _name(category))
        _require_prompts(db, ids)
        return db.conn.executemany(  # rowcount: rows this statement changed, not the triggers' rows
            "INSERT INTO prompt_categories (prompt_id, category_id, assigned_by) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING", [(i, category_id, user.strip()) for i in ids]).rowcount


def unassign(db: sqlite_utils.Database, user: str, category: str, prompt_ids) -> int:
    ids = sorted({int(i) for i in prompt_ids})
    with users.writing_as(db, user, "reviewer"):
        category_id = _id(db, _name(category))
        return db.conn.executemany("DELETE FROM prompt_categories WHERE prompt_id = ? AND category_id = ?",
                                   [(i, category_id) for i in ids]).rowcount


def set_for_prompt(db: sqlite_utils.Database, user: str, prompt_id: int, names) -> None:
    """Make a prompt's categories exactly ``names`` (the review page's multiselect), in one step."""
    wanted = {_name(n) for n in names}
    with write_transaction(db):
        current = set(for_prompt(db, prompt_id))
        users.require_role(db, user, "reviewer")
        for name in sorted(wanted - current):
            assign(db, user, name, [prompt_id])
        for name in sorted(current - wanted):
            unassign(db, user, name, [prompt_id])


def _require_prompts(db: sqlite_utils.Database, ids: list[int]) -> None:
    if not ids:
        return
    found = {r[0] for r in db.execute(f"SELECT id FROM prompts WHERE id IN ({', '.join('?' * len(ids))})", ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise CategoryError(f"no prompt with id {', '.join(map(str, missing[:5]))}"
                            + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""))


def list_categories(db: sqlite_utils.Database) -> list[dict]:
    """Every category with its parent's name, its path ("Parent / Child") and how many prompts it holds,
    in tree order."""
    return list(db.query(
        """WITH RECURSIVE tree(id, path, depth) AS (
               SELECT id, name, 0 FROM categories WHERE parent_id IS NULL
               UNION ALL SELECT c.id, tree.path || ' / ' || c.name, tree.depth + 1
               FROM categories c JOIN tree ON c.parent_id = tree.id WHERE tree.depth < 100)
           SELECT c.id, c.name, c.description, p.name AS parent, c.rubric, tree.path, tree.depth,
                  (SELECT count(*) FROM prompt_categories pc WHERE pc.category_id = c.id) AS prompts
           FROM categories c JOIN tree ON tree.id = c.id LEFT JOIN categories p ON p.id = c.parent_id
           ORDER BY tree.path"""))


def names(db: sqlite_utils.Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT name FROM categories ORDER BY name")]


def for_prompt(db: sqlite_utils.Database, prompt_id: int) -> list[str]:
    return for_prompts(db, [prompt_id]).get(prompt_id, [])


def for_prompts(db: sqlite_utils.Database, prompt_ids) -> dict[int, list[str]]:
    """{prompt id: its team categories in name order}; prompts without any are absent."""
    ids = sorted(set(prompt_ids))
    found: dict[int, list[str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for prompt_id, name in db.execute(
                f"""SELECT pc.prompt_id, c.name FROM prompt_categories pc JOIN categories c ON c.id = pc.category_id
                    WHERE pc.prompt_id IN ({', '.join('?' * len(chunk))}) ORDER BY c.name""", chunk):
            found.setdefault(prompt_id, []).append(name)
    return found


def rubrics_for(db: sqlite_utils.Database, prompt_ids) -> dict[int, str]:
    """The one rubric rule: the text a reviewer is shown for a prompt and an LLM judge is sent for it.

    The categories that apply are the team categories the prompt is assigned to, plus a category
    named like the prompt's benchmark category or subcategory (so a rubric written for CoCoNot's
    "Incomplete requests" applies to all of them without assigning); a category without a rubric of
    its own uses its nearest ancestor's. Several rubrics are joined under their category names.
    Prompts without any are absent (the reviewer then sees the built-in guideline, the judge its
    own rubric file)."""
    ids = sorted(set(prompt_ids))
    applying: dict[int, list[tuple[str, int]]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        for prompt_id, name, category_id in db.execute(
                f"""SELECT p.id, c.name, c.id FROM prompts p JOIN categories c
                      ON c.id IN (SELECT category_id FROM prompt_categories WHERE prompt_id = p.id)
                      OR c.name = p.category OR c.name = p.subcategory
                    WHERE p.id IN ({marks}) ORDER BY p.id, c.name""", chunk):
            applying.setdefault(prompt_id, []).append((name, category_id))
    own = {}
    found = {}
    for prompt_id, cats in applying.items():
        rubrics = []
        for name, category_id in cats:
            if category_id not in own:
                own[category_id] = next((r[0] for ancestor in _ancestors(db, category_id) for r in db.execute(
                    "SELECT rubric FROM categories WHERE id = ? AND rubric IS NOT NULL AND rubric != ''",
                    [ancestor])), None)
            if own[category_id]:
                rubrics.append((name, own[category_id]))
        if len(rubrics) == 1:
            found[prompt_id] = rubrics[0][1]
        elif rubrics:
            found[prompt_id] = "\n\n".join(f"{name}:\n{rubric}" for name, rubric in rubrics)
    return found


def import_assignments(db: sqlite_utils.Database, rows) -> int:
    """Assign imported prompts, given as (dataset, source_id, category name), to categories, creating
    missing categories by name. Like ``writes.import_annotations`` this is data brought in by the
    owner of the database (the CLI or an import), not a user's edit, so no role is checked.
    Returns assignments added."""
    rows = [(d, s, _name(n)) for d, s, n in rows]
    with write_transaction(db):
        db.conn.executemany("INSERT INTO categories (name) VALUES (?) ON CONFLICT (name) DO NOTHING",
                            [(n,) for n in sorted({r[2] for r in rows})])
        return db.conn.executemany(
            """INSERT INTO prompt_categories (prompt_id, category_id, assigned_by)
               SELECT p.id, c.id, 'import' FROM prompts p, categories c
               WHERE p.dataset = ? AND p.source_id = ? AND c.name = ? ON CONFLICT DO NOTHING""", rows).rowcount
