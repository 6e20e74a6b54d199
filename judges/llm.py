"""LLM rubric judges: a template, a model and settings, whose hash is the judge's identity.

Two versions of a prompt must never pool their verdicts, so the judge's name carries a hash of
everything that shapes its answers (template text, rubric file, model, settings):
``coconot:gpt-4o-mini:ab12cd34``. A template is plain text with the placeholders {prompt},
{response}, {category} and {rubric}; any other braces (a JSON example) are left alone.

The parser reads what judges actually write: our JSON {"rationale", "label"}, ``<label>X</label>``,
``[[X]]``, a ``label:``/``CLASS:`` line, or a bare benchmark label word (XSTest's
``2_full_refusal``, CoCoNot's ACCEPTABLE, OR-Bench's ``direct_answer``), so the benchmarks' official
prompts work as user templates. Anything else is ``unparsed`` with the raw text kept: never a guess.

Structured verdicts: small local models write JSON-like text that is not JSON (SmolLM2-135M left 82
of 100 verdicts unparsed). Endpoints that can constrain decoding to a JSON schema are asked to, each
in its own dialect (``STRUCTURED``): OpenAI and vLLM's ``response_format`` json_schema (strict),
llama-cpp-python's ``{"type": "json_object", "schema": ...}``, Ollama's ``format``; ``off`` is plain
prompting. The mode is part of the judge's identity (a constrained judge is another judge), except
``off``, which keeps the names judges had before modes existed. ``auto`` is resolved by the run
(runs/learn.py) before the judge is named.
"""

import dataclasses
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import labels
from errors import UserError

HERE = Path(__file__).parent
BUILTIN = {
    "coconot": (HERE / "templates" / "coconot.txt", HERE / "rubrics" / "coconot.json"),
    "three-class": (HERE / "templates" / "three_class.txt", None),
}
PLACEHOLDERS = ("prompt", "response", "category", "rubric")
DEFAULT_MAX_TOKENS = 512
VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"rationale": {"type": "string"}, "label": {"type": "string", "enum": list(labels.LABELS)}},
    "required": ["rationale", "label"],  # rationale first: the model reasons before it decides
    "additionalProperties": False,
}
# Local servers (llama.cpp, Ollama) turn the schema into a grammar that also bounds the rationale, so
# a small model that rambles still closes its JSON within max_tokens (rationale comes first: cut off,
# the label would be lost). OpenAI's strict mode refuses maxLength, so it gets the schema without.
_BOUNDED_SCHEMA = {**VERDICT_SCHEMA, "properties": {**VERDICT_SCHEMA["properties"],
                                                    "rationale": {"type": "string", "maxLength": 400}}}
STRUCTURED = {  # mode -> the request fields that ask for it
    "json_schema": {"response_format": {"type": "json_schema", "json_schema": {
        "name": "verdict", "strict": True, "schema": VERDICT_SCHEMA}}},
    "json_object": {"response_format": {"type": "json_object", "schema": _BOUNDED_SCHEMA}},
    "format": {"format": _BOUNDED_SCHEMA},
    "off": {},
}
STRUCTURED_MODES = ("auto", *STRUCTURED)  # auto: the run learns which the endpoint takes


def fill(template: str, values: dict) -> str:
    """The template with each ``{name}`` of ``values`` replaced in one pass; any other braces (a JSON
    example, a placeholder of another kind of template) are left as written, and a value that
    itself contains ``{prompt}`` is not expanded again."""
    if not values:
        return template
    pattern = re.compile(r"\{(" + "|".join(re.escape(name) for name in values) + r")\}")
    return pattern.sub(lambda m: str(values[m.group(1)]), template)


@dataclass(frozen=True)
class LLMJudge:
    kind: str  # coconot, three-class, or the template file's stem
    template: str
    rubrics: dict = field(default_factory=dict)  # subcategory/category (lower case) -> rubric text
    model: str = ""
    settings: dict = field(default_factory=dict)
    structured: str = "off"  # a STRUCTURED mode, or "auto" until a run resolves it
    family = "llm"  # the judges table's kind (``kind`` is the template's)

    def __post_init__(self):
        if self.structured not in STRUCTURED_MODES:
            raise UserError(f"structured output must be one of {', '.join(STRUCTURED_MODES)}, "
                            f"not {self.structured!r}")

    @functools.cached_property  # a hash of the whole template and rubric file: computed once
    def template_hash(self) -> str:
        shaped_by = {"template": self.template, "rubrics": self.rubrics, "model": self.model,
                     "settings": self.settings}
        if self.structured != "off":  # the mode and what it sends (a changed schema is another judge)
            shaped_by["structured"] = [self.structured, STRUCTURED.get(self.structured)]
        blob = json.dumps(shaped_by, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.model}:{self.template_hash[:8]}"

    @property
    def config(self) -> dict:
        """What the judges table keeps: enough to rebuild this judge (runs.orchestrator.resume)."""
        config = {"kind": self.kind, "model": self.model, "settings": self.settings, "structured": self.structured,
                  "template_sha256": hashlib.sha256(self.template.encode("utf-8")).hexdigest()}
        if self.kind not in BUILTIN:
            config["template"] = self.template
        return config

    def with_structured(self, mode: str) -> "LLMJudge":
        """This judge asking for its verdict in ``mode`` (another judge, unless mode is the same)."""
        return dataclasses.replace(self, structured=mode)

    def rubric_for(self, item: dict, stored: str | None = None) -> str:
        """The rubric a prompt is judged by: one stored on its category in the database wins, then
        this judge's rubric for its subcategory, its category, then the file's default."""
        if stored:
            return stored
        for key in (item.get("subcategory"), item.get("category"), "default"):
            if key and key.lower() in self.rubrics:
                return self.rubrics[key.lower()]
        return ""

    def messages(self, item: dict, rubric: str) -> list[dict]:
        category = " / ".join(c for c in (item.get("category"), item.get("subcategory")) if c)
        values = {"prompt": item["prompt"], "response": item["response"], "category": category or "unknown",
                  "rubric": rubric}
        return [{"role": "user", "content": fill(self.template, values)}]

    def request(self, item: dict, rubric: str) -> dict:
        if self.structured == "auto":
            raise ValueError("structured='auto' is resolved by the run before requests are built")
        return {"model": self.model, "messages": self.messages(item, rubric), **self.settings,
                **STRUCTURED[self.structured]}

    @property
    def uses_rubric(self) -> bool:
        return "{rubric}" in self.template

    def parse(self, text: str, item: dict) -> tuple[str, str | None]:
        """(label, rationale) of a reply about ``item``: CoCoNot's ACCEPTABLE flips meaning by set."""
        return parse_output(text, labels.coconot_set_of(item.get("dataset")))


def load_judge(spec: str, model: str, max_tokens: int = DEFAULT_MAX_TOKENS, structured: str = "off") -> LLMJudge:
    """``coconot``, ``three-class`` or the path of a user template file."""
    if not model:
        raise UserError(f"the {spec} judge needs --model (the judging LLM)")
    if spec in BUILTIN:
        template_path, rubric_path = BUILTIN[spec]
        kind = spec
    else:
        template_path, rubric_path, kind = Path(spec), None, Path(spec).stem
        if not template_path.is_file():
            raise UserError(f"{spec}: no such judge or template file (judges: rules, {', '.join(BUILTIN)}, or FILE)")
    rubrics = {}
    if rubric_path:
        rubrics = {k.lower(): v for k, v in json.loads(rubric_path.read_text(encoding="utf-8")).items()
                   if not k.startswith("_")}
    return judge_from_template(template_path.read_text(encoding="utf-8"), model, kind, rubrics, max_tokens,
                               where=str(template_path), structured=structured)


def judge_from_template(template: str, model: str, kind: str = "custom", rubrics: dict | None = None,
                        max_tokens: int = DEFAULT_MAX_TOKENS, where: str = "template",
                        structured: str = "off") -> LLMJudge:
    """A judge from template text (a file's, or typed on the Run page)."""
    if not model:
        raise UserError(f"the {kind} judge needs a model (the judging LLM)")
    missing = [p for p in ("prompt", "response") if "{" + p + "}" not in template]
    if missing:
        raise UserError(f"{where}: the template has no {' or '.join('{' + p + '}' for p in missing)} "
                         f"placeholder (placeholders: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
    return LLMJudge(kind, template, rubrics or {}, model, {"temperature": 0, "max_tokens": max_tokens}, structured)


def conforms(text: str) -> bool:
    """Whether ``text`` is exactly the verdict JSON the schema asks for: how a run tells an endpoint
    that honoured a structured mode from one that accepted the field and ignored it."""
    try:
        verdict = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(verdict, dict) and verdict.get("label") in labels.LABELS and isinstance(
        verdict.get("rationale"), str)


# -- reading a judge's answer ------------------------------------------------------------------------

# Every pattern here is linear: no two adjacent parts can match the same characters, so a failed
# match never retries a stretch in another split (the old ``^\\s*`` ran across every blank line from
# every line start: 20,000 newlines took 46 s).
_TAG = re.compile(r"<label>([^<]{0,200})</label>", re.IGNORECASE)
_BRACKETS = re.compile(r"\[\[([^\[\]]{1,200})\]\]")
_LINE = re.compile(r"^[ \t]*(?:final[ \t]+)?(?:label|class|classification|verdict|answer)[ \t]*[:=][ \t]*([^\n]+)$",
                   re.IGNORECASE | re.MULTILINE)
PARSE_LIMIT = 64_000  # characters of a reply that are read: the verdict, which comes last, and then some


def read_label(word, coconot_set: str = "original") -> str | None:
    """One label word in any benchmark's vocabulary -> our label, or None."""
    if word is None:
        return None
    word = str(word).strip().strip("*`'\" .")
    underscored = re.sub(r"[\s-]+", "_", word.lower())
    return labels.normalise(word) or labels.normalise(underscored) or labels.from_coconot(word, coconot_set)


def parse_output(text: str, coconot_set: str = "original") -> tuple[str, str | None]:
    """(label, rationale) from a judge's raw answer; ``unparsed`` when no label can be read.

    Only the last ``PARSE_LIMIT`` characters are read (a judge states its verdict at the end; a
    longer reply is a runaway), so the time spent on any reply is bounded; the raw text is kept in
    full by the caller."""
    text = (text or "")[-PARSE_LIMIT:]
    found = _json_object(text)
    if isinstance(found, dict):
        label = read_label(found.get("label"), coconot_set)
        if label:
            rationale = found.get("rationale")
            return label, str(rationale) if rationale is not None else None
    for pattern in (_TAG, _BRACKETS, _LINE):
        hits = {read_label(m, coconot_set) for m in pattern.findall(text)}
        hits.discard(None)
        if len(hits) == 1:
            return hits.pop(), text.strip()
    words = {read_label(m, coconot_set) for m in labels.FREE_TEXT_LABEL.findall(text)}
    words.discard(None)
    if len(words) == 1:  # one label word, however often: read it; two different ones: ambiguous
        return words.pop(), text.strip()
    return labels.UNPARSED, None


def _json_object(text: str):
    """The JSON value from the first ``{`` to the last ``}`` (what a judge wraps its answer in),
    or None. Found with two string scans, not a regex; nesting deeper than Python's recursion limit
    is unreadable, not a crash."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        return json.loads(text[start:end + 1])
    except (json.JSONDecodeError, RecursionError):
        return None

