"""What a browser keeps across reloads and tabs: the typed name and the display choices, as cookies.

Streamlit forgets ``st.session_state`` on a reload, so without sign-in the name had to be typed
again in every tab. Streamlit reads cookies (``st.context.cookies``, sent when the page connects) but
cannot set them, so a changed value is written by a one-line script in the sidebar
(``st.html(..., unsafe_allow_javascript=True)``) and read back on the next page load. The value is
the user's own typing: it is URL-encoded by the browser and placed in the script as a JSON string
with ``<``, ``>`` and ``&`` escaped, so it cannot end the script or add markup. The filter is not
kept here but in the URL (ui/filters.py), so a copied link shares it; the display choices are
per-browser preferences (a shared link must not turn off someone else's content warning).

That sidebar script is the app's one script, so it also carries the one keyboard rule a browser
needs: Enter in a one-line box (the name, the search, a note, the Go-to number) applies it and
gives the keyboard back to the page. Streamlit leaves the box focused after Enter, and its button
shortcuts (1 / 2 / 3, N, U, P) ignore keys typed into a box, so a reviewer who typed a name and
pressed Enter would type "123" into the name instead of labelling. The listener is added once per
page load (the script runs again only when its text changes, and checks a flag).
"""

import json
from urllib.parse import unquote

import streamlit as st

NAME_COOKIE = "rr_name"
PREFS_COOKIE = "rr_prefs"
MAX_NAME = 100
_YEAR = 365 * 24 * 3600
_WRITTEN = "_cookies_written"  # cookie -> the value this session last wrote (or found on load)
_ENTER_LETS_GO = ("if (!window.rrEnterLetsGo) { window.rrEnterLetsGo = true; "
                  "document.addEventListener('keyup', function (e) { var box = e.target; "
                  "if (e.key === 'Enter' && !e.isComposing && box && box.closest && "
                  "box.closest('[data-testid=\"stTextInput\"], [data-testid=\"stNumberInput\"]')) box.blur(); "
                  "}, true); }")


def _read(cookie: str) -> str | None:
    try:
        raw = st.context.cookies.get(cookie)
    except Exception:  # noqa: BLE001 - no browser behind this run (AppTest, bare mode): nothing kept
        return None
    return unquote(raw) if isinstance(raw, str) and raw else None


def restore(name_key: str, pref_keys: tuple[str, ...]) -> None:
    """On a session's first run: the name (into ``name_key``) and the preferences (into their own
    session keys) this browser kept. Later runs leave the session's values alone."""
    ss = st.session_state
    if _WRITTEN in ss:
        return
    name = (_read(NAME_COOKIE) or "")[:MAX_NAME].strip()
    if name and not ss.get(name_key):
        ss[name_key] = name
    try:
        prefs = json.loads(_read(PREFS_COOKIE) or "{}")
    except ValueError:
        prefs = {}
    if isinstance(prefs, dict):
        for key in pref_keys:
            if key in prefs and isinstance(prefs[key], (bool, int)) and key not in ss:
                ss[key] = prefs[key]
    ss[_WRITTEN] = {NAME_COOKIE: name or None, PREFS_COOKIE: prefs if isinstance(prefs, dict) else {}}


def _value(key: str):
    """A preference's value now: the widget's, or (off its page) the copy filters.keep_state keeps."""
    ss = st.session_state
    if key in ss:
        return ss[key]
    kept = ss.get(f"_keep_{key}")
    return kept[1] if kept else None


def save(name: str | None, pref_keys: tuple[str, ...]) -> None:
    """Write the name and the preferences to cookies when they differ from what the browser holds;
    the same script makes Enter in a box hand the keyboard back (module docstring)."""
    ss = st.session_state
    written = ss.setdefault(_WRITTEN, {NAME_COOKIE: None, PREFS_COOKIE: {}})
    name = (name or "").strip()[:MAX_NAME] or None
    prefs = {k: v for k in pref_keys if isinstance(v := _value(k), (bool, int))}
    lines = [_ENTER_LETS_GO]
    if name != written[NAME_COOKIE]:
        lines.append(_set_cookie(NAME_COOKIE, name or "", 0 if name is None else _YEAR))
        written[NAME_COOKIE] = name
    if prefs and prefs != written[PREFS_COOKIE]:
        lines.append(_set_cookie(PREFS_COOKIE, json.dumps(prefs, sort_keys=True), _YEAR))
        written[PREFS_COOKIE] = prefs
    st.html("<script>" + "".join(lines) + "</script>", unsafe_allow_javascript=True)


def _set_cookie(cookie: str, value: str, max_age: int) -> str:
    literal = json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (f"document.cookie = '{cookie}=' + encodeURIComponent({literal}) + "
            f"'; path=/; max-age={max_age}; SameSite=Lax';")
