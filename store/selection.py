"""The one definition of "which responses": a ``Selection`` and the SQL conditions it stands for.

The Review and Browse pages, the Run page, both bulk-assign widgets and every CLI command that acts
on responses (judge, generate, search, export, agreement, report) build a Selection and hand it to
the store, so "what I see in the review filter" and "what the CLI judges" are the same rows by
construction. Conditions are on a response ``r`` joined to its prompt ``p``; every value is a bound
parameter.

Search text is plain words by default: each word is matched as text, so ``self-harm``, ``it's`` and
``C++`` mean what they say. Operators count only when written as such: a "quoted phrase", ``OR``
and ``NOT`` in capitals between words, ``word*`` for a prefix (at least ``MIN_PREFIX`` letters: a
one-letter prefix matches most of the index and would cost seconds per keystroke). A leading
``NOT word`` keeps the items whose prompt and response both lack the word.
"""

import re
from dataclasses import asdict, dataclass, fields

from errors import UserError
from labels import FULL_COMPLIANCE, REFUSALS, SHOULD_COMPLY, SHOULD_REFUSE, UNPARSED

STATUSES = {
    "": "any",
    "unlabelled": "unlabelled",
    "labelled": "labelled",
    "human_vs_judge": "human disagrees with judge",
    "judges_disagree": "judges disagree with each other",
    "contradicts_expected": "response contradicts the expected behaviour",
    "tied": "human labels tie, no final label yet",
}
ORDERS = {"stored": "as stored", "random": "random (seeded)", "disputed": "most disputed first"}
MIN_PREFIX = 3
MAX_SEARCH = 500  # characters; a search box is not a document
_RESPONSE_FIELDS = ("model", "judge", "judge_label", "status", "tag")


class SearchError(UserError):
    """Search text that cannot be a search; the message says how to fix it."""


class SelectionError(UserError):
    """A selection field with a value it cannot take."""


@dataclass(frozen=True)
class Selection:
    """What the user is looking at. Empty strings mean "any". Hashable, so it can key a cache."""

    dataset: str = ""
    category: str = ""
    subcategory: str = ""
    team_category: str = ""
    expected: str = ""
    model: str = ""
    judge: str = ""
    judge_label: str = ""
    status: str = ""
    tag: str = ""
    search: str = ""
    order: str = "stored"
    seed: int = 0

    def __post_init__(self):
        if self.status not in STATUSES:
            raise SelectionError(f"unknown human status {self.status!r}; expected one of "
                                 f"{', '.join(s for s in STATUSES if s)}")
        if self.order not in ORDERS:
            raise SelectionError(f"unknown order {self.order!r}; expected one of {', '.join(ORDERS)}")
        fts_query(self.search)  # a search that cannot be one fails here, where the user typed it

    @property
    def on_responses(self) -> bool:
        """True when a condition is about responses (a model, a judge, a label status), so only
        prompts with a matching response are selected; otherwise a prompt counts without any."""
        return any(getattr(self, name) for name in _RESPONSE_FIELDS)

    def changed(self) -> dict:
        """The fields that differ from the default: what a URL or a CLI echo needs to carry."""
        default = Selection()
        return {k: v for k, v in asdict(self).items() if v != getattr(default, k)}

    @classmethod
    def from_mapping(cls, values: dict) -> "Selection":
        """A Selection from strings (a URL's query parameters, a form); unknown keys are ignored."""
        known = {f.name: f.type for f in fields(cls)}
        picked = {k: v for k, v in values.items() if k in known and v not in (None, "")}
        if "seed" in picked:
            try:
                picked["seed"] = int(picked["seed"])
            except ValueError:
                raise SelectionError(f"seed must be a whole number, not {picked['seed']!r}") from None
        return cls(**picked)


# --- search text -----------------------------------------------------------------------------------

_TOKEN = re.compile(r'"[^"]*"?|[^\s"()]+')
_OPERATORS = {"OR", "AND", "NOT"}


def _phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def fts_query(text: str) -> tuple[str | None, list[str]]:
    """(FTS5 expression for what must match, [expressions that must not]) from search-box text.
    Raises SearchError for a prefix shorter than MIN_PREFIX or text too long to be a search."""
    text = (text or "").replace("\x00", " ").strip()
    if len(text) > MAX_SEARCH:
        raise SearchError(f"search is {len(text):,} characters; at most {MAX_SEARCH} (search for a phrase "
                          "from the text instead)")
    terms, negatives, pending = [], [], None
    tokens = _TOKEN.findall(text)
    for i, token in enumerate(tokens):
        is_last = i == len(tokens) - 1
        if token in _OPERATORS and not is_last:
            if token == "NOT" and not terms:
                pending = "NEGATE"
            elif terms and terms[-1] not in _OPERATORS:
                terms.append(token)
            continue
        if token.startswith('"'):
            inner = token.strip('"')
            if not inner.strip():
                continue
            term = _phrase(inner)
        elif token.endswith("*") and token.strip("*"):
            stem = token.rstrip("*")
            if len(stem) < MIN_PREFIX:
                raise SearchError(f"search {token!r}: a prefix search needs at least {MIN_PREFIX} letters "
                                  "before the *")
            term = _phrase(stem) + "*"
        else:
            word = token.strip("*")
            if not word:
                continue
            term = _phrase(word)
        if pending == "NEGATE":
            negatives.append(term)
            pending = None
        else:
            terms.append(term)
    while terms and terms[-1] in _OPERATORS:
        terms.pop()
    return (" ".join(terms) or None), negatives


# --- SQL -------------------------------------------------------------------------------------------

_HAS_HUMAN = "EXISTS (SELECT 1 FROM current_annotations a WHERE a.response_id = r.id)"
# analysis.humans.reference's tie (two or more labels share the most votes) as SQL, for the filter
# that finds work for the adjudicator; a response with a final label is settled.
_TIED = """(SELECT count(*) FROM (SELECT count(*) AS votes FROM current_annotations a WHERE a.response_id = r.id
                                 GROUP BY a.label) tally
           WHERE tally.votes = (SELECT max(votes) FROM (SELECT count(*) AS votes FROM current_annotations a
                                                         WHERE a.response_id = r.id GROUP BY a.label))) > 1
           AND NOT EXISTS (SELECT 1 FROM current_adjudications f WHERE f.response_id = r.id)"""
_REFUSAL_SQL = "(" + ", ".join(f"'{x}'" for x in sorted(REFUSALS)) + ")"
_WRONG_SIDE = (f"((p.expected = '{SHOULD_REFUSE}' AND {{col}} = '{FULL_COMPLIANCE}') OR "
               f"(p.expected = '{SHOULD_COMPLY}' AND {{col}} IN {_REFUSAL_SQL}))")


def _verdict_scope(s: Selection) -> tuple[str, list]:
    """Conditions on verdict ``v`` for the chosen judge (all judges when none is chosen)."""
    if s.judge:
        return "AND v.judge_id = (SELECT id FROM judges WHERE name = ?)", [s.judge]
    return "", []


def prompt_conditions(s: Selection) -> tuple[list[str], list]:
    """Conditions on prompt ``p`` alone: dataset, categories, expected behaviour."""
    conds, params = [], []
    for column, value in (("p.dataset", s.dataset), ("p.category", s.category), ("p.subcategory", s.subcategory),
                          ("p.expected", s.expected)):
        if value:
            conds.append(f"{column} = ?")
            params.append(value)
    if s.team_category:
        conds.append("""EXISTS (SELECT 1 FROM prompt_categories pc JOIN categories c ON c.id = pc.category_id
                        WHERE pc.prompt_id = p.id AND c.name = ?)""")
        params.append(s.team_category)
    return conds, params


def _search_conditions(s: Selection, response: bool) -> tuple[list[str], list]:
    """The search as conditions: on prompt and response text (``response``), or on the prompt only."""
    positive, negatives = fts_query(s.search)
    conds, params = [], []
    prompt_match = "p.id IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ?)"
    response_match = "r.id IN (SELECT rowid FROM responses_fts WHERE responses_fts MATCH ?)"
    if positive:
        if response:
            conds.append(f"({response_match} OR {prompt_match})")
            params += [positive, positive]
        else:
            conds.append(prompt_match)
            params.append(positive)
    for negative in negatives:
        conds.append(f"NOT {prompt_match}")
        params.append(negative)
        if response:
            conds.append(f"NOT {response_match}")
            params.append(negative)
    return conds, params


#: The condition ``where`` and ``prompt_where`` give for the whole database (no filter): what a
#: reader compares with to take a shortcut that only holds for everything.
EVERYTHING = "1"


def prompt_where(s: Selection) -> tuple[str, list]:
    """Conditions on prompt ``p`` only (generation, prompt-level actions): the prompt fields and the
    search on prompt text. Conditions on responses make no sense there and are refused."""
    used = [name for name in _RESPONSE_FIELDS if getattr(s, name)]
    if used:
        raise SelectionError(f"this acts on prompts; {', '.join(used)} select responses and do not apply")
    conds, params = prompt_conditions(s)
    search, search_params = _search_conditions(s, response=False)
    return " AND ".join([EVERYTHING, *conds, *search]), params + search_params


def where(s: Selection) -> tuple[str, list]:
    """SQL conditions on response ``r`` joined to prompt ``p``, with their bound parameters."""
    conds, params = prompt_conditions(s)
    if s.model:
        conds.append("r.model = ?")
        params.append(s.model)
    scope, scope_params = _verdict_scope(s)
    if s.judge or s.judge_label:
        label_cond = "AND v.label = ?" if s.judge_label else ""
        conds.append(f"EXISTS (SELECT 1 FROM verdicts v WHERE v.response_id = r.id {scope} {label_cond})")
        params += scope_params + ([s.judge_label] if s.judge_label else [])
    if s.status == "unlabelled":
        conds.append("NOT " + _HAS_HUMAN)
    elif s.status == "labelled":
        conds.append(_HAS_HUMAN)
    elif s.status == "human_vs_judge":
        conds.append(f"""EXISTS (SELECT 1 FROM current_annotations a JOIN verdicts v ON v.response_id = a.response_id
                         WHERE a.response_id = r.id {scope} AND v.label != '{UNPARSED}' AND v.label != a.label)""")
        params += scope_params
    elif s.status == "judges_disagree":
        conds.append(f"""EXISTS (SELECT 1 FROM verdicts v JOIN verdicts w ON w.response_id = v.response_id
                         WHERE v.response_id = r.id AND v.label != '{UNPARSED}' AND w.label != '{UNPARSED}'
                           AND v.label != w.label)""")
    elif s.status == "contradicts_expected":
        # Human labels decide when there are any; otherwise the (chosen) judges' verdicts do.
        human_wrong = (f"EXISTS (SELECT 1 FROM current_annotations a WHERE a.response_id = r.id "
                       f"AND {_WRONG_SIDE.format(col='a.label')})")
        judge_wrong = (f"EXISTS (SELECT 1 FROM verdicts v WHERE v.response_id = r.id {scope} "
                       f"AND {_WRONG_SIDE.format(col='v.label')})")
        conds.append(f"(CASE WHEN {_HAS_HUMAN} THEN {human_wrong} ELSE {judge_wrong} END)")
        params += scope_params
    elif s.status == "tied":
        conds.append(_TIED)
    if s.tag:
        conds.append("EXISTS (SELECT 1 FROM current_tags t WHERE t.response_id = r.id AND t.tag = ?)")
        params.append(s.tag)
    search, search_params = _search_conditions(s, response=True)
    return " AND ".join([EVERYTHING, *conds, *search]), params + search_params


def response_ids(s: Selection) -> tuple[str, list]:
    """A subquery of the selected response ids, for reads that hang off responses (verdicts,
    labels, tags, comments, final labels) and must cover exactly the selection."""
    cond, params = where(s)
    return f"SELECT r.id FROM responses r JOIN prompts p ON p.id = r.prompt_id WHERE {cond}", params


def in_selection(column: str, s: Selection) -> tuple[str, list]:
    """A condition that ``column`` (a response id) is selected: ``column IN (response_ids)``, or
    nothing to check when the selection is the whole database. SQLite runs an IN over every
    response as a pass over every response (seconds at a million) even for a table of ten final
    labels, so a read of the few rows that hang off responses would cost the database's size."""
    if where(s)[0] == EVERYTHING:
        return EVERYTHING, []
    ids, params = response_ids(s)
    return f"{column} IN ({ids})", params
