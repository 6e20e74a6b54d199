"""A fast first pass for the rule judge's patterns: RE2 (through pyarrow) tells, for many texts in
one C++ call, where the leftmost possible match starts; Python's ``re`` then searches only from there.

Why: Python's ``re`` tries every alternative of a group at every position of a text (~100 µs per
response for a full group), which alone made 100,000 responses take many seconds; RE2 scans them
with a DFA at hundreds of MB/s. RE2 has no lookarounds, so each pattern is translated to a SUPERSET
(lookarounds dropped; a lookbehind that opens the pattern, like "(?<=[.!?] )as", is read as text
instead: RE2's match then starts a few characters earlier, never later, and the first pass stays
as narrow as the pattern). RE2 reads ``\\b \\w \\d \\s`` as ASCII, so it reads an ASCII stand-in of each text:
every non-ASCII character becomes "z" (letters and digits), " " (spaces) or "~" (anything else), one
for one, so positions and word boundaries stay; classes that hold such characters in Python hold
their stand-in in RE2. A superset can only say "no match starts before position p" (or "no match
at all"); Python's search from p then returns exactly the match a search from 0 would, so labels
and rationales never depend on this module. A pattern it cannot translate (back-references,
conditional groups, inline flags) simply gets no first pass.
"""

import codecs
import re
from re import _constants as C  # noqa: N812 - the stdlib's own parse tree vocabulary
from re import _parser

import numpy as np

_ASCII = [chr(c) for c in range(128)]
_CATEGORY = {  # Python's reading of each class on ASCII characters
    C.CATEGORY_DIGIT: str.isdecimal,
    C.CATEGORY_WORD: lambda ch: ch.isalnum() or ch == "_",
    C.CATEGORY_SPACE: str.isspace,
}
_NOT_CATEGORY = {
    C.CATEGORY_NOT_DIGIT: C.CATEGORY_DIGIT, C.CATEGORY_NOT_WORD: C.CATEGORY_WORD,
    C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE,
}
_AT = {
    C.AT_BEGINNING: "(?m:^)", C.AT_END: "(?m:$)",  # the rule judge compiles with re.MULTILINE
    C.AT_BEGINNING_STRING: r"\A", C.AT_END_STRING: r"\z",
    C.AT_BOUNDARY: r"\b", C.AT_NON_BOUNDARY: r"\B",
}
WORD, SPACE, OTHER = "z", " ", "~"  # stand-ins for non-ASCII characters of each kind
_COVERS = {  # category -> (kinds of non-ASCII characters it holds all of, kinds it holds some of)
    C.CATEGORY_DIGIT: (set(), {WORD}),
    C.CATEGORY_NOT_DIGIT: ({SPACE, OTHER}, {WORD, SPACE, OTHER}),
    C.CATEGORY_WORD: ({WORD}, {WORD}),
    C.CATEGORY_NOT_WORD: ({SPACE, OTHER}, {SPACE, OTHER}),
    C.CATEGORY_SPACE: ({SPACE}, {SPACE}),
    C.CATEGORY_NOT_SPACE: ({WORD, OTHER}, {WORD, OTHER}),
}
_ALLOWED_FLAGS = re.MULTILINE | re.UNICODE | re.VERBOSE  # VERBOSE only shapes parsing
RE2_MAX_REPEAT = 1000


class _Untranslatable(Exception):
    pass


def _kind(ch: str) -> str:
    return WORD if ch.isalnum() or ch == "_" else SPACE if ch.isspace() else OTHER


def _stand_in(error: UnicodeEncodeError):
    return "".join(map(_kind, error.object[error.start:error.end])), error.end


codecs.register_error("rules_prefilter_stand_in", _stand_in)


def ascii_stand_in(text: str) -> str:
    """The text RE2 reads: ``text`` with each non-ASCII character replaced by its kind's stand-in."""
    return text if text.isascii() else text.encode("ascii", "rules_prefilter_stand_in").decode("ascii")


def superset(pattern: str, flags: int = re.MULTILINE) -> str | None:
    """RE2 syntax matching, on ASCII text, at least wherever ``pattern`` matches; None if unsure."""
    try:
        parsed = _parser.parse(pattern, flags)
        if parsed.state.flags & ~_ALLOWED_FLAGS:
            return None
        return _sequence(parsed, at_start=True)
    except (_Untranslatable, re.error):
        return None


def _sequence(items, at_start: bool = False) -> str:
    """``at_start``: the first item is where every match of the whole pattern begins."""
    return "".join(_node(op, av, at_start and k == 0) for k, (op, av) in enumerate(items))


def _char(code: int) -> str:
    return f"\\x{{{code:x}}}"


def _node(op, av, at_start: bool = False) -> str:
    if op is C.LITERAL:
        return _char(av if av < 128 else ord(_kind(chr(av))))
    if op is C.NOT_LITERAL:
        return _char_class({ch for ch in _ASCII if ord(ch) != av} | {WORD, SPACE, OTHER})
    if op is C.ANY:
        return "."  # no DOTALL (refused above): both engines stop at a newline
    if op is C.IN:
        return _char_class({ch for ch in _ASCII if _in_set(ch, av)} | _stand_ins_in_set(av))
    if op is C.BRANCH:
        return "(?:" + "|".join(_sequence(branch, at_start) for branch in av[1]) + ")"
    if op is C.SUBPATTERN:
        _group, add_flags, del_flags, inner = av
        if (add_flags | del_flags) & ~_ALLOWED_FLAGS:
            raise _Untranslatable(op)
        return f"(?:{_sequence(inner, at_start)})"
    if op is C.ATOMIC_GROUP:  # matches a subset of the plain group
        return f"(?:{_sequence(av)})"
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, high, inner = av
        if low > RE2_MAX_REPEAT:
            raise _Untranslatable(op)
        bound = f"{{{low},}}" if high == C.MAXREPEAT or high > RE2_MAX_REPEAT else f"{{{low},{high}}}"
        return f"(?:{_sequence(inner)}){bound}"  # laziness never moves where a match can start
    if op is C.AT:
        return _AT[av]
    if op is C.ASSERT and av[0] < 0 and at_start:  # (?<=x) opening the match: x precedes every match
        return f"(?:{_sequence(av[1])})"
    if op in (C.ASSERT, C.ASSERT_NOT):
        return ""  # dropping a lookaround only allows more matches
    raise _Untranslatable(op)


def _in_set(ch: str, items) -> bool:
    negate, found = False, False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            found |= ord(ch) == av
        elif op is C.RANGE:
            found |= av[0] <= ord(ch) <= av[1]
        elif op is C.CATEGORY and av in _CATEGORY:
            found |= _CATEGORY[av](ch)
        elif op is C.CATEGORY and av in _NOT_CATEGORY:
            found |= not _CATEGORY[_NOT_CATEGORY[av]](ch)
        else:
            raise _Untranslatable(op)
    return found != negate


def _stand_ins_in_set(items) -> set[str]:
    """The stand-ins of the kinds of non-ASCII characters the set may hold (erring towards more)."""
    negate = any(op is C.NEGATE for op, _ in items)
    covered, touched = set(), set()
    for op, av in items:
        if op is C.LITERAL and av >= 128:
            touched.add(_kind(chr(av)))
        elif op is C.RANGE and av[1] >= 128:
            touched |= {WORD, SPACE, OTHER}
        elif op is C.CATEGORY:
            covered |= _COVERS[av][0]
            touched |= _COVERS[av][1]
    return {WORD, SPACE, OTHER} - covered if negate else touched


def _char_class(chars: set[str]) -> str:
    """Exactly these ASCII characters (the texts RE2 reads are ASCII stand-ins)."""
    return "[" + "".join(_char(ord(ch)) for ch in sorted(chars)) + "]" if chars else r"[^\x00-\x{10ffff}]"


def leftmost(texts, pattern: str) -> np.ndarray | None:
    """Where the first match of the RE2 ``pattern`` starts in each of ``texts`` (a pyarrow array of
    ascii_stand_in texts, as strings or bytes), -1 where there is none; None when RE2 refuses the
    pattern (too large, nested repeats over its limit): the caller then searches with Python alone."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.find_substring_regex(texts, pattern).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None
