"""Who may write what: roles admin > reviewer > viewer, enforced here in the store so no page or
script can skip the check.

Policy (what a team lead expects):
- The first person to write anything to a database with no users becomes its admin.
- Anyone else is registered on their first write. With ``users.self_signup`` on (the default) an
  unknown name joins as a reviewer, so a team can start labelling without set-up; an admin who wants
  a closed team turns it off, and unknown names are then viewers until an admin gives them a role.
- Only an admin sets roles (in the app); the CLI acts as the owner of the database file, who can
  already change anything, so ``cli.py users set-role`` needs no admin (it is how a team recovers
  when its only admin leaves). The last admin cannot be demoted, so a team never locks itself out.
- Imported labels (benchmark annotators such as ``xstest_annotator_1``) are data, not users: they
  are neither checked nor registered.
- A name typed into the app without sign-in is a ``Claim``: who someone says they are, not who
  signed in. It may do what its role allows below admin, but it never acts as an admin and never
  becomes one by writing first; admin actions need a signed-in admin, a local single-user run, or
  the CLI.
- Names are compared as people read them (``name_key``): Unicode compatibility forms folded
  (NFKC), invisible characters dropped, case folded, and Cyrillic and Greek letters that look like
  Latin ones read as those. A new name that reads like a registered one is refused, so ``bоss``
  (Cyrillic о) or ``Boss`` cannot register beside ``boss``; a new name holding invisible characters
  is refused too (``clean_name`` says how it should be written).
"""

import contextlib
import unicodedata

import sqlite_utils

from errors import UserError
from store.connection import NOW, write_transaction

ROLES = ("admin", "reviewer", "viewer")
_RANK = {"viewer": 0, "reviewer": 1, "admin": 2}
SELF_SIGNUP = "users.self_signup"


# Lower-case Cyrillic and Greek letters drawn like a Latin letter in common fonts (after case folding).
# A small table of the homoglyphs an impersonator reaches for, not Unicode's full confusables list,
# whose Latin-to-Latin entries ("rn" = "m", "l" = "1") would also merge honest names.
_LOOKALIKES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "ӏ": "l", "ү": "y", "ɡ": "g",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "γ": "y", "ω": "w", "ϲ": "c", "ϳ": "j",
})


class RoleError(UserError):
    """The user's role does not allow this write. The message says who, what role they have, and
    what they would need."""


class Claim(str):
    """A name typed into the app without sign-in: what someone says, not what they proved."""


def clean_name(name: str | None) -> str:
    """A name as it should be stored: NFKC, no invisible or control characters, single spaces."""
    name = unicodedata.normalize("NFKC", str(name or ""))
    visible = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cf", "Cc", "Co", "Cs")
                      and not 0xFE00 <= ord(ch) <= 0xFE0F and ch not in "\u115f\u1160\u3164\uffa0")
    return " ".join(visible.split())


def name_key(name: str | None) -> str:
    """What two names are compared by: ``clean_name``, case-folded, look-alike letters as Latin."""
    return clean_name(name).casefold().translate(_LOOKALIKES)


def resolve(db: sqlite_utils.Database, name: str | None) -> str:
    """``name`` cleaned, written as the registered user it names when it differs from them only in
    case, compatibility forms or invisible characters ("Alice" is alice); else as given, cleaned.
    A look-alike of another script is not resolved: registering it is refused."""
    cleaned = clean_name(name)
    folded = cleaned.casefold()
    return next((n for (n,) in db.execute("SELECT name FROM users ORDER BY created_at, name")
                 if clean_name(n).casefold() == folded), cleaned)


def registered_like(db: sqlite_utils.Database, name: str | None) -> str | None:
    """The registered user whose name reads like ``name`` (``name_key``), or None."""
    key = name_key(name)
    return next((n for (n,) in db.execute("SELECT name FROM users ORDER BY created_at, name")
                 if name_key(n) == key), None) if key else None


def _clean(name: str | None) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise RoleError("this needs a user name: sign in or type your name in the sidebar")
    return Claim(cleaned) if isinstance(name, Claim) else cleaned


def _check_new_name(db: sqlite_utils.Database, name: str) -> None:
    """Refuse registering ``name`` when it holds invisible characters or reads like a registered name."""
    if clean_name(name) != name:
        raise RoleError(f"the name {name!r} holds invisible characters or unusual spacing; "
                        f"write it as {clean_name(name)!r}")
    like = registered_like(db, name)
    if like is not None and like != name:
        raise RoleError(f"{name!r} looks like the registered user {like!r}: use {like!r}, or a name "
                        "that reads differently")


def _check_role(role: str) -> str:
    if role not in _RANK:
        raise UserError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def get_setting(db: sqlite_utils.Database, key: str, default: str | None = None) -> str | None:
    row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def self_signup(db: sqlite_utils.Database) -> bool:
    return get_setting(db, SELF_SIGNUP, "on") == "on"


def registered_role(db: sqlite_utils.Database, name: str | None) -> str | None:
    """The role stored for ``name``, or None when they have never written anything."""
    if not name or not name.strip():
        return None
    row = db.execute("SELECT role FROM users WHERE name = ?", [name.strip()]).fetchone()
    return row[0] if row else None


def role_of(db: sqlite_utils.Database, name: str | None) -> str:
    """The role ``name`` has, or would get on their first write. Reads only, so pages can show it
    (and disable buttons) without registering anyone; a missing name is a viewer, and a Claim is
    at most a reviewer."""
    if not name or not name.strip():
        return "viewer"
    role = registered_role(db, name)
    if not role and db.execute("SELECT NOT EXISTS (SELECT 1 FROM users)").fetchone()[0]:
        role = "admin"
    role = role or ("reviewer" if self_signup(db) else "viewer")
    return "reviewer" if isinstance(name, Claim) and role == "admin" else role


def can(db: sqlite_utils.Database, name: str | None, role: str) -> bool:
    return _RANK[role_of(db, name)] >= _RANK[_check_role(role)]


def require_role(db: sqlite_utils.Database, user: str | None, role: str) -> str:
    """Raise RoleError unless ``user`` has ``role`` or higher; register a new user (see the module
    policy). Call it inside the write's transaction, so the check and the write are one step and
    two first-comers cannot both become admin. Returns the user's role."""
    _check_role(role)
    name = _clean(user)
    have = role_of(db, name)
    if role == "admin" and isinstance(name, Claim):
        raise RoleError(f"{name} is a typed name, not a sign-in: anyone can type it, so admin actions need a "
                        f"signed-in admin (or `python cli.py users set-role ...` run by the database's owner)")
    if _RANK[have] < _RANK[role]:
        raise RoleError(f"{name} has the {have} role; this needs the {role} role (an admin can change roles on the Users page "
                        f"or with `python cli.py users set-role {name} {role}`)")
    if registered_role(db, name) is None:
        with write_transaction(db):
            _check_new_name(db, name)
            db.execute("INSERT INTO users (name, role) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", [name, have])
    return have


@contextlib.contextmanager
def writing_as(db: sqlite_utils.Database, user: str | None, role: str):
    """The way every user-driven write starts: one transaction that first checks the role. On a
    read-only database the write fails as a StoreError (see store.connection.write_transaction)."""
    with write_transaction(db):
        require_role(db, user, role)
        yield db


def set_role(db: sqlite_utils.Database, name: str, role: str, by: str | None = None) -> None:
    """Give ``name`` a role. ``by`` is the admin doing it in the app; None means the owner of the
    database file (the CLI)."""
    _check_role(role)
    name = _clean(name)
    with write_transaction(db):
        if by is not None:
            require_role(db, by, "admin")
        admins = [r[0] for r in db.execute("SELECT name FROM users WHERE role = 'admin'")]
        if role != "admin" and admins == [name]:
            raise RoleError(f"{name} is the only admin; make someone else admin first")
        if registered_role(db, name) is None:
            _check_new_name(db, name)
        db.execute("""INSERT INTO users (name, role) VALUES (?, ?)
                      ON CONFLICT (name) DO UPDATE SET role = excluded.role""", [name, role])


def set_self_signup(db: sqlite_utils.Database, on: bool, by: str | None = None) -> None:
    """Open (unknown names become reviewers) or closed (unknown names are viewers) team."""
    with write_transaction(db):
        if by is not None:
            require_role(db, by, "admin")
        db.execute(f"""INSERT INTO settings (key, value, updated_by) VALUES (?, ?, ?)
                      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by,
                      updated_at = {NOW}""",
                   [SELF_SIGNUP, "on" if on else "off", by])


def list_users(db: sqlite_utils.Database) -> list[dict]:
    return [dict(name=n, role=r, created_at=c)
            for n, r, c in db.execute("SELECT name, role, created_at FROM users ORDER BY created_at, name")]
