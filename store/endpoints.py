"""What an endpoint (base URL) and model accept, learned once from their errors and remembered:
the structured-output mode a judge gets there, and the request rewrites a model needs
(``max_completion_tokens``, no temperature). Remembered in the database rather than in a process so
every CLI run, the app and a resumed run skip the learning a previous one paid for.

Keyed by base URL *and* model: one endpoint serves models that differ (OpenAI's reasoning models
refuse what its chat models take)."""

import sqlite_utils

from store.connection import NOW, write_transaction


def features(db: sqlite_utils.Database, base_url: str, model: str) -> dict[str, str]:
    return dict(db.execute("SELECT feature, value FROM endpoint_features WHERE base_url = ? AND model = ?",
                           (base_url, model)).fetchall())


def remember(db: sqlite_utils.Database, base_url: str, model: str, learned: dict[str, str]) -> None:
    """Record what was learned (a later lesson about the same feature replaces the earlier one)."""
    if not learned:
        return
    with write_transaction(db):
        db.conn.executemany(
            f"""INSERT INTO endpoint_features (base_url, model, feature, value) VALUES (?, ?, ?, ?)
               ON CONFLICT (base_url, model, feature) DO UPDATE SET value = excluded.value,
               learned_at = {NOW}""",
            [(base_url, model, feature, value) for feature, value in learned.items()])


def forget(db: sqlite_utils.Database, base_url: str, model: str) -> int:
    """Forget an endpoint's features (it was upgraded): the next run learns them again."""
    with write_transaction(db):
        return db.conn.execute("DELETE FROM endpoint_features WHERE base_url = ? AND model = ?",
                               (base_url, model)).rowcount
