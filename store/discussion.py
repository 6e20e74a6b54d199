"""Tags and comments on responses: what a team writes down about *why* a response (or a judge's
verdict on it) is what it is, beyond the three labels.

- Tags are a team's own vocabulary ("lecture", "harmful content leaked", "refused the wrong part"),
  lower-cased so one word is one tag. ``FLAG`` ("needs discussion") is the tag the review page's
  "Flag for discussion" puts on. Putting a tag on or taking it off appends a row (migration 005);
  the newest row per response and tag decides, so nothing is lost.
- Comments are a thread per response, append-only.

Both need the reviewer role, like labels.
"""

from dataclasses import dataclass

import pandas as pd
import sqlite_utils

from errors import UserError
from store import users
from store.connection import NOW
from store.selection import Selection, in_selection

FLAG = "needs discussion"
MAX_TAG = 60
MAX_COMMENT = 5_000


class DiscussionError(UserError):
    """A tag or comment that cannot be stored as given."""


@dataclass
class Comment:
    id: int
    author: str
    body: str
    created_at: str


def clean_tag(tag: str) -> str:
    """One spelling per tag: spaces collapsed, lower case; no commas (exports join tags with them)."""
    tag = " ".join(str(tag or "").split()).lower()
    if not tag:
        raise DiscussionError("a tag needs at least one letter")
    if len(tag) > MAX_TAG or "," in tag:
        raise DiscussionError(f"a tag is at most {MAX_TAG} characters, without commas: {tag[:MAX_TAG]!r}")
    return tag


def set_tags(db: sqlite_utils.Database, response_id: int, tags, author: str) -> tuple[list[str], list[str]]:
    """Make ``tags`` the response's tags: append a row for each tag put on or taken off. Returns
    (added, removed)."""
    wanted = {clean_tag(t) for t in tags}
    with users.writing_as(db, author, "reviewer"):
        now = set(tags_of(db, [response_id]).get(response_id, []))
        added, removed = sorted(wanted - now), sorted(now - wanted)
        db.conn.executemany("INSERT INTO tag_events (response_id, tag, added, author) VALUES (?, ?, ?, ?)",
                            [(response_id, t, 1, author.strip()) for t in added]
                            + [(response_id, t, 0, author.strip()) for t in removed])
    return added, removed


def toggle_tag(db: sqlite_utils.Database, response_id: int, tag: str, author: str) -> bool:
    """Put ``tag`` on the response, or take it off when it is there; True when it is on now."""
    tag = clean_tag(tag)
    current = set(tags_of(db, [response_id]).get(response_id, []))
    set_tags(db, response_id, current ^ {tag}, author)
    return tag not in current


def tags_of(db: sqlite_utils.Database, response_ids: list[int]) -> dict[int, list[str]]:
    """Each response's current tags, in name order."""
    found: dict[int, list[str]] = {}
    for start in range(0, len(response_ids), 500):
        chunk = list(response_ids[start:start + 500])
        marks = ", ".join("?" * len(chunk))
        for rid, tag in db.execute(f"SELECT response_id, tag FROM current_tags WHERE response_id IN ({marks}) "
                                   "ORDER BY tag", chunk):
            found.setdefault(rid, []).append(tag)
    return found


def vocabulary(db: sqlite_utils.Database) -> list[str]:
    """Every tag the team has used (on anything, now or before), most used first: what the tag box offers."""
    return [r[0] for r in db.execute("""SELECT tag FROM tag_events WHERE added = 1 GROUP BY tag
                                        ORDER BY count(DISTINCT response_id) DESC, tag""")]


def add_comment(db: sqlite_utils.Database, response_id: int, author: str, body: str) -> int:
    body = (body or "").strip()
    if not body:
        raise DiscussionError("an empty comment says nothing")
    if len(body) > MAX_COMMENT:
        raise DiscussionError(f"a comment is at most {MAX_COMMENT:,} characters (this one is {len(body):,})")
    with users.writing_as(db, author, "reviewer"):
        return db.conn.execute("INSERT INTO comments (response_id, author, body) VALUES (?, ?, ?)",
                               (response_id, author.strip(), body)).lastrowid


def comments_of(db: sqlite_utils.Database, response_ids: list[int]) -> dict[int, list[Comment]]:
    """Each response's comment thread, oldest first."""
    found: dict[int, list[Comment]] = {}
    for start in range(0, len(response_ids), 500):
        chunk = list(response_ids[start:start + 500])
        marks = ", ".join("?" * len(chunk))
        for cid, rid, author, body, created in db.execute(
                f"SELECT id, response_id, author, body, created_at FROM comments WHERE response_id IN ({marks}) "
                "ORDER BY id", chunk):
            found.setdefault(rid, []).append(Comment(cid, author, body, created))
    return found


def tags_frame(db: sqlite_utils.Database, selection: Selection = Selection()) -> pd.DataFrame:
    """Current tags of the selected responses, one row per (response_id, tag), with who put it on and when."""
    cond, params = in_selection("response_id", selection)
    return pd.read_sql_query(f"""SELECT response_id, tag, author, created_at FROM current_tags
                                 WHERE {cond} ORDER BY response_id, tag""", db.conn, params=params)


def comments_frame(db: sqlite_utils.Database, selection: Selection = Selection()) -> pd.DataFrame:
    """Every comment on the selected responses, oldest first."""
    cond, params = in_selection("response_id", selection)
    return pd.read_sql_query(f"""SELECT response_id, author, body, created_at FROM comments
                                 WHERE {cond} ORDER BY id""", db.conn, params=params)


def import_discussion(db: sqlite_utils.Database, tags: list[dict], comments: list[dict]) -> tuple[int, int]:
    """Imported tags (response_id, tag, author) and comments (response_id, author, body, created_at),
    inside the caller's transaction; a tag already on and a comment already there (same author, text
    and time) are not added again, so re-importing a file adds nothing. Returns (tags, comments) added."""
    tagged = db.conn.executemany(
        """INSERT INTO tag_events (response_id, tag, added, author) SELECT ?1, ?2, 1, ?3
           WHERE NOT EXISTS (SELECT 1 FROM current_tags WHERE response_id = ?1 AND tag = ?2)""",
        [(t["response_id"], clean_tag(t["tag"]), t["author"]) for t in tags])
    commented = db.conn.executemany(
        f"""INSERT INTO comments (response_id, author, body, created_at) SELECT ?1, ?2, ?3, coalesce(?4, {NOW})
           WHERE NOT EXISTS (SELECT 1 FROM comments WHERE response_id = ?1 AND author = ?2 AND body = ?3
                             AND (?4 IS NULL OR created_at = ?4))""",
        [(c["response_id"], c["author"], c["body"], c.get("created_at")) for c in comments])
    return max(tagged.rowcount, 0), max(commented.rowcount, 0)  # rowcount: rows of these tables, not triggers
