"""The offline rule judge: refusal phrasing as data (``rules.toml``), applied to many texts at once.

Rules live in a TOML file a user can copy and edit (its header documents the format), so changing
what counts as a refusal never needs a code change, and the file's hash is part of the judge's name:
two versions of the rules are two judges whose verdicts can be compared item by item.

Speed comes from three things: a group is only matched on the rows a rule still needs it for (a
row decided by an earlier rule is never looked at again); for many rows at once, RE2 first finds
where a group's match can start (judges/prefilter.py), so the Python search skips the texts and the
stretches of text where it cannot match; and normalising avoids per-character work on ASCII text.
100,000 responses label in about two seconds (bench/judge_bench.py measures it).

A rules file is user input, and a regular expression can take exponential time (``^(a+)+$`` on a
long run of a's). Patterns are written in Python's ``re`` syntax and checked with ``re``; shapes
known to explode (back-references, conditionals, a repetition inside an unbounded repetition) are
refused when the file is loaded, naming the file and field. What remains runs on the ``regex``
package (the same syntax and matches as ``re`` in its V0 mode, but a search can be given a time
limit): a search that still takes over ``SEARCH_TIME_LIMIT`` stops the run with a RulesError
naming the group, never hangs it. RE2-only patterns were not an option: the shipped rules need
lookarounds, which RE2 lacks.
"""

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from re import _constants as C  # noqa: N812 - the stdlib's own parse tree vocabulary
from re import _parser

import numpy as np
import regex

from errors import UserError
from judges import prefilter
from labels import LABELS

DEFAULT_RULES = Path(__file__).with_name("rules.toml")
SCOPES = ("opening", "anywhere")
_CONDITION_KEYS = {"name", "label", "empty", "all", "any", "none", "min_words", "max_words"}
_QUOTES = {"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'}
_SPACING = re.compile(r"[ \t\u00a0\u2009\u202f]{2,}|[\t\u00a0\u2009\u202f]")  # single spaces stay as they are
PREFILTER_MIN_ROWS = 64  # fewer rows: one pyarrow call costs more than it saves
_UPPER_OUTSIDE_ESCAPES = re.compile(r"(?<!\\)(?:\\\\)*[A-Z]")  # an upper-case letter that is not \S, \W...
SEARCH_TIME_LIMIT = 2.0  # seconds one pattern group may search one response; real rules take microseconds
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)


class RulesError(UserError):
    """A rules file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Group:
    name: str
    scope: str
    chars: int | None  # opening length for scope "opening"
    regex: regex.Pattern  # the regex package's compile of the group's patterns (re syntax, V0)
    re2: str | None  # judges/prefilter.py's superset of regex, None = Python alone


@dataclass(frozen=True)
class Rule:
    name: str
    label: str
    empty: bool | None
    all: tuple[str, ...]
    any: tuple[str, ...]
    none: tuple[str, ...]
    min_words: int | None
    max_words: int | None


@dataclass(frozen=True)
class RuleSet:
    path: str
    digest: str  # sha256 of the file's bytes
    groups: dict
    rules: tuple
    default_label: str
    default_rule: str
    blank_quoted: bool  # settings.blank_quoted: text in double quotes is not matched

    @property
    def judge_name(self) -> str:
        return f"rules:{self.digest[:8]}"

    @property
    def config(self) -> dict:
        return {"rules_file": self.path, "sha256": self.digest}

    # The batch-judge interface the run orchestrator calls (runs/orchestrator.py).
    family = "rules"  # the judges table's kind

    @property
    def name(self) -> str:
        return self.judge_name

    def label_items(self, items: list[dict]) -> list[dict]:
        """Verdict fields (label, rationale) for items with a ``response`` text, in order."""
        found, why = label_texts(self, [item["response"] for item in items])
        return [dict(label=label, rationale=rationale) for label, rationale in zip(found, why)]


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and check a rules file (default: the shipped ``rules.toml``); RulesError on any problem."""
    path = Path(path or DEFAULT_RULES)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the rules file ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{path}: not valid TOML ({exc})") from exc

    def fail(field, message):
        raise RulesError(f"{path}: {field}: {message}")

    settings = data.get("settings", {})
    opening = settings.get("opening_chars", 300)
    if not isinstance(opening, int) or opening <= 0:
        fail("settings.opening_chars", "must be a positive whole number")
    blank_quoted = settings.get("blank_quoted", False)
    if not isinstance(blank_quoted, bool):
        fail("settings.blank_quoted", "must be true or false")
    default_label = settings.get("default_label", LABELS[0])
    if default_label not in LABELS:
        fail("settings.default_label", f"{default_label!r} is not one of {', '.join(LABELS)}")

    groups = {}
    for name, spec in (data.get("groups") or {}).items():
        scope = spec.get("scope", "anywhere")
        if scope not in SCOPES:
            fail(f"groups.{name}.scope", f"{scope!r} is not one of {', '.join(SCOPES)}")
        patterns = spec.get("patterns")
        if not patterns or not all(isinstance(p, str) for p in patterns):
            fail(f"groups.{name}.patterns", "must be a non-empty list of strings")
        for i, pattern in enumerate(patterns):
            try:
                slow = _slow_shape(pattern)
            except re.error as exc:
                fail(f"groups.{name}.patterns[{i}]", f"bad regular expression ({exc})")
            if slow:
                fail(f"groups.{name}.patterns[{i}]", f"{slow}: such a pattern can take exponential time on "
                     "some texts; rewrite it")
            if _UPPER_OUTSIDE_ESCAPES.search(pattern):
                fail(f"groups.{name}.patterns[{i}]", "write patterns in lower case: responses are lower-cased "
                     "before matching (case-insensitive matching would be several times slower)")
        chars = spec.get("chars", opening) if scope == "opening" else None
        source = "|".join(f"(?:{p})" for p in patterns)
        groups[name] = Group(name, scope, chars, regex.compile(source, regex.MULTILINE | regex.V0),
                             prefilter.superset(source))

    rules = []
    for i, spec in enumerate(data.get("rules") or []):
        where = f"rules[{i}]"
        unknown = set(spec) - _CONDITION_KEYS
        if unknown:
            fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
        if not spec.get("name"):
            fail(f"{where}.name", "every rule needs a name (it becomes the verdict's rationale)")
        if spec.get("label") not in LABELS:
            fail(f"{where}.label", f"{spec.get('label')!r} is not one of {', '.join(LABELS)}")
        for key in ("all", "any", "none"):
            for group in spec.get(key, []):
                if group not in groups:
                    fail(f"{where}.{key}", f"no group named {group!r}")
        rules.append(Rule(spec["name"], spec["label"], spec.get("empty"), tuple(spec.get("all", ())),
                          tuple(spec.get("any", ())), tuple(spec.get("none", ())), spec.get("min_words"),
                          spec.get("max_words")))
    if not rules:
        fail("rules", "the file defines no [[rules]]")
    return RuleSet(str(path), hashlib.sha256(raw).hexdigest(), groups, tuple(rules), default_label,
                   settings.get("default_rule", "no_rule_fired"), blank_quoted)


def _slow_shape(pattern: str) -> str | None:
    """Why ``pattern`` (``re`` syntax; re.error when it is not) is refused, or None. Refused: a
    back-reference or conditional (matching them is NP-hard in general), and a repetition that can
    repeat without limit around one that can too (``(a+)+``, ``(\\w*\\s?)*``): the classic
    exponential backtracking shapes."""
    def walk(items, in_unbounded: bool) -> str | None:
        for op, av in items:
            if op in (C.GROUPREF, C.GROUPREF_EXISTS):
                return "a back-reference or conditional group"
            if op in _REPEATS:
                unbounded = av[1] == C.MAXREPEAT
                if unbounded and in_unbounded:
                    return "a repetition inside an unbounded repetition (like (a+)+)"
                inner = [av[2]]
            elif op is C.SUBPATTERN:
                inner, unbounded = [av[3]], False
            elif op is C.BRANCH:
                inner, unbounded = av[1], False
            elif op in (C.ASSERT, C.ASSERT_NOT):
                inner, unbounded = [av[1]], False
            elif op is C.ATOMIC_GROUP:
                inner, unbounded = [av], False
            else:
                continue
            for sub in inner:
                why = walk(sub, in_unbounded or unbounded)
                if why:
                    return why
        return None

    re.compile(pattern)
    return walk(_parser.parse(pattern, re.MULTILINE), False)


def normalise_text(text) -> str:
    """What the patterns see: lower case, straight quotes, single spaces, no outer whitespace.
    str.replace per quote present, not str.translate (which costs ~1 µs per character), and
    ASCII text without double spaces or tabs skips the spacing regex."""
    text = str(text or "")
    if not text.isascii():
        for curly, straight in _QUOTES.items():
            if curly in text:
                text = text.replace(curly, straight)
    text = text.strip().lower()
    if text.isascii() and "  " not in text and "\t" not in text:
        return text
    return _SPACING.sub(" ", text)


_QUOTED = re.compile(r'"[^"\n]{1,300}"')
_NOT_SPACE = re.compile(r"\S")


def blank_quoted(text: str) -> str:
    """Letters inside double quotes become x: a quoted phrase ("This isn't right.", a line of a
    letter the user asked for) is mentioned, not said by the model. Lengths, spaces and word counts
    stay, so opening scopes and word limits read the same text."""
    if '"' not in text:
        return text
    return _QUOTED.sub(lambda m: '"' + _NOT_SPACE.sub("x", m.group(0)[1:-1]) + '"', text)


class _Matcher:
    """Group matches, computed lazily per row and remembered (-1 unknown, 0 no, 1 yes), with the
    phrase that matched (for the rationale)."""

    def __init__(self, ruleset: RuleSet, texts: list[str]):
        self.path = ruleset.path
        self.groups = ruleset.groups
        self.texts = texts
        self.memo = {name: np.full(len(texts), -1, dtype=np.int8) for name in ruleset.groups}
        self.found = {name: {} for name in ruleset.groups}
        self.words = np.full(len(texts), -1, dtype=np.int64)
        self.arrow = {}  # opening length (None = whole text) -> pyarrow array of every text's ASCII stand-in

    def _scoped(self, chars: int | None):
        if chars not in self.arrow:
            import pyarrow as pa
            import pyarrow.compute as pc

            if None not in self.arrow:
                self.arrow[None] = pa.array(map(prefilter.ascii_stand_in, self.texts), type=pa.large_string(),
                                            size=len(self.texts))
            if chars is not None:
                self.arrow[chars] = pc.utf8_slice_codeunits(self.arrow[None], 0, chars)
        return self.arrow[chars]

    def matches(self, name: str, rows: np.ndarray) -> np.ndarray:
        memo, group = self.memo[name], self.groups[name]
        todo = rows[memo[rows] < 0]
        starts = np.zeros(len(todo), dtype=np.int64)
        if group.re2 is not None and len(todo) >= PREFILTER_MIN_ROWS:
            scoped = self._scoped(group.chars)
            first = prefilter.leftmost(scoped if len(todo) == len(scoped) else scoped.take(todo), group.re2)
            if first is not None:
                starts = first
                memo[todo[starts < 0]] = 0
        search, texts, chars, found = group.regex.search, self.texts, group.chars, self.found[name]
        for i, start in zip(todo[starts >= 0].tolist(), starts[starts >= 0].tolist()):
            try:
                hit = search(texts[i], start, chars or len(texts[i]), timeout=SEARCH_TIME_LIMIT)
            except TimeoutError:
                raise RulesError(f"{self.path}: groups.{name}: a pattern took over {SEARCH_TIME_LIMIT:g} s on one "
                                 f"response ({len(texts[i]):,} characters, starting {texts[i][:40]!r}); rewrite "
                                 "it so it cannot backtrack that long") from None
            memo[i] = hit is not None
            if hit:
                found[i] = hit.group(0).strip()
        return memo[rows] == 1

    def word_counts(self, rows: np.ndarray) -> np.ndarray:
        todo = rows[self.words[rows] < 0]
        if len(todo):
            self.words[todo] = [len(self.texts[i].split()) for i in todo]
        return self.words[rows]


def label_texts(ruleset: RuleSet, texts) -> tuple[list[str], list[str]]:
    """Label many responses at once: returns (labels, rationales), each naming the rule that fired
    and, for pattern rules, the phrase that matched."""
    normal = [normalise_text(t) for t in texts]
    if ruleset.blank_quoted:
        normal = [blank_quoted(t) for t in normal]
    matcher = _Matcher(ruleset, normal)
    labels = np.full(len(normal), ruleset.default_label, dtype=object)
    rationales = np.full(len(normal), ruleset.default_rule, dtype=object)
    undecided = np.arange(len(normal))
    for rule in ruleset.rules:
        rows = undecided
        if rule.empty is not None:
            rows = rows[np.array([(normal[i] == "") == rule.empty for i in rows], dtype=bool)]
        for name in rule.all:  # conditions are a conjunction: the order only changes the cost
            rows = rows[matcher.matches(name, rows)] if len(rows) else rows
        if rule.any and len(rows):
            hit = np.zeros(len(rows), dtype=bool)
            for name in rule.any:
                hit[~hit] = matcher.matches(name, rows[~hit])
            rows = rows[hit]
        if rule.min_words is not None and len(rows):
            rows = rows[matcher.word_counts(rows) >= rule.min_words]
        if rule.max_words is not None and len(rows):
            rows = rows[matcher.word_counts(rows) <= rule.max_words]
        for name in rule.none:
            rows = rows[~matcher.matches(name, rows)] if len(rows) else rows
        if not len(rows):
            continue
        labels[rows] = rule.label
        evidence = rule.all or rule.any
        for i in rows:
            named = next((g for g in evidence if matcher.memo[g][i] == 1), None)
            rationales[i] = f'{rule.name}: "{matcher.found[named][i]}"' if named else rule.name
        undecided = np.setdiff1d(undecided, rows, assume_unique=True)
        if not len(undecided):
            break
    return labels.tolist(), rationales.tolist()


def label_one(ruleset: RuleSet, text: str) -> tuple[str, str]:
    labels, rationales = label_texts(ruleset, [text])
    return labels[0], rationales[0]
