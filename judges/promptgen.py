"""Building a prompt set the way OR-Bench does (justincui03/or-bench): toxic seeds from a category
name, seemingly toxic rewrites of each seed, and moderators' verdicts on every prompt. Pure: each
step builds requests and reads replies; runs/orchestrator.py sends them and stores the results.

The default templates are OR-Bench's own (judges/templates/orbench_*.txt) and replies are read the
way its scripts read them, so its outputs parse the same here: prompts inside ``[[...]]``, else
inside ``«...»``, else numbered lines; a moderation is a choice ``[[N. name]]`` among ten categories
or "11. None of the above". Where its scripts guess, these do not:

- a reply with no readable choice is ``unparsed`` (OR-Bench's ``check_category`` calls it
  ``none`` while ``is_toxic`` calls the same reply toxic), and two different choices in one reply
  are ``unparsed`` too;
- only an enumeration ("3. ", "3) ") is taken off the front of a prompt, not every leading digit
  (OR-Bench's ``lstrip('0123456789.- ')`` turns "2024 tax rules" into "tax rules");
- ``[[...]]`` is matched per prompt, not greedily across a line holding several;
- a "prompt" that repeats a line or an example of the request (the template's own "[[here is
  prompt]]", a few-shot example, the seed itself) is an echo, not a new prompt, and is counted;
- duplicates are found on normalised text (case, spacing, punctuation), not exact strings.

A step's ``name`` carries a hash of everything that shapes its answers (template, model,
settings), like a judge's: two versions of a step never count as each other's finished work.
"""

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import labels
from errors import UserError
from judges.llm import fill

TEMPLATES = Path(__file__).parent / "templates"
SEED_TEMPLATE = TEMPLATES / "orbench_seed.txt"
REWRITE_TEMPLATE = TEMPLATES / "orbench_rewrite.txt"
MODERATE_TEMPLATE = TEMPLATES / "orbench_moderate.txt"
#: OR-Bench's settings: seeds 20 at a time at temperature 1.0, five rewrites per seed at 0.7,
#: moderation at 0 with up to 1000 tokens.
SEED_BATCH, SEED_TEMPERATURE = 20, 1.0
REWRITE_PER_SEED, REWRITE_TEMPERATURE = 5, 0.7
MODERATE_MAX_TOKENS = 1000
DEFAULT_MAX_TOKENS = 2048
MAX_EXAMPLES = 20  # seed examples shown in one request: enough to show the kind, bounded in size


# -- reading prompts out of a reply ------------------------------------------------------------------

_BRACKETS = re.compile(r"\[\[(.+?)\]\]")
_GUILLEMETS = re.compile(r"«([^«»\n]+)»")
_NUMBERED = re.compile(r"^\s*\d{1,3}\s*[.)]\s+(.+?)\s*$", re.MULTILINE)
_ENUMERATION = re.compile(r"^\s*\d{1,3}\s*[.):]\s+")
_QUOTES = "\"'`*«»“”‘’ "


def clean_prompt(text: str) -> str:
    """One prompt as read: an enumeration and wrapping quotes or emphasis taken off, spaces tidied."""
    text = _ENUMERATION.sub("", text.strip())
    text = text.replace("[", "").replace("]", "").strip().strip(_QUOTES).strip()
    return re.sub(r"\s+", " ", text)


def parse_prompts(text: str) -> tuple[list[str], str]:
    """(prompts, format) read from a generation reply, in OR-Bench's order of formats: ``brackets``
    ([[...]]), ``guillemets`` («...»), ``numbered`` (lines "1. ..."), or ``none`` with no prompt."""
    text = text or ""
    for fmt, pattern in (("brackets", _BRACKETS), ("guillemets", _GUILLEMETS), ("numbered", _NUMBERED)):
        found = [clean_prompt(m) for m in pattern.findall(text)]
        found = [p for p in found if p]
        if found:
            return found, fmt
    return [], "none"


def normalise(text: str) -> str:
    """The text two prompts share when they are the same prompt written slightly differently:
    Unicode compatibility forms, case, punctuation and spacing ignored."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"['’‘`]", "", text)  # "stranger's" and "strangers" are one word
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def prompt_key(text: str) -> str:
    """The stored ``source_id`` of a generated prompt: a hash of its normalised text, so a
    near-duplicate of a prompt already in the dataset is the same row and is never added twice."""
    return "gen-" + hashlib.sha1(normalise(text).encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass
class Parsed:
    """What one reply yielded: new prompts (in order, each once) and what was dropped and why."""
    prompts: list[str]
    format: str
    parsed: int  # prompts read, before dropping
    echoes: int  # repeated a line of the request
    repeats: int  # the same normalised text twice in this reply


def read_reply(text: str, request_text: str, also_echo: tuple[str, ...] = ()) -> Parsed:
    """Prompts from a reply, without echoes of the request (any of its lines, anything it shows in
    the reply format, ``also_echo`` such as the seed being rewritten) and without repeats."""
    found, fmt = parse_prompts(text)
    echo = {normalise(line) for line in request_text.splitlines()}
    echo |= {normalise(p) for p in parse_prompts(request_text)[0]} | {normalise(p) for p in also_echo}
    echo.discard("")
    kept, seen, echoes, repeats = [], set(), 0, 0
    for prompt in found:
        key = normalise(prompt)
        if not key or key in echo:
            echoes += 1
        elif key in seen:
            repeats += 1
        else:
            seen.add(key)
            kept.append(prompt)
    return Parsed(kept, fmt, len(found), echoes, repeats)


# -- reading a moderation ------------------------------------------------------------------------------

_CHOICE = re.compile(r"\[\[\s*(.+?)\s*\]\]", re.DOTALL)
_NUMBER_AND_NAME = re.compile(r"^(\d{1,2})\s*[.):]?\s*(.*)$", re.DOTALL)


def _category_named(name: str) -> str | None:
    word = re.sub(r"[^a-z -]", "", name.lower()).strip().replace(" ", "-")
    if word.startswith("none"):  # "None of the above", "none"
        return labels.NONE
    word = "self-harm" if word in ("self-harm", "selfharm") else word
    return word if word in labels.MODERATION_CATEGORIES else None


def read_choice(inner: str) -> str | None:
    """One ``[[...]]`` choice -> a category, ``none``, or None when it names nothing (or its number
    and name disagree, as in "[[3. hate]]": which one was meant cannot be known)."""
    found = _NUMBER_AND_NAME.match(inner.strip())
    if not found:
        return _category_named(inner)
    number, name = int(found.group(1)), found.group(2).strip()
    by_number = (labels.MODERATION_CATEGORIES[number - 1] if 1 <= number <= len(labels.MODERATION_CATEGORIES)
                 else labels.NONE if number == len(labels.MODERATION_CATEGORIES) + 1 else None)
    by_name = _category_named(name) if name else None
    if by_number and by_name and by_number != by_name:
        return None
    return by_number or by_name


def parse_moderation(text: str) -> tuple[str, str | None]:
    """(label, rationale): the one choice the reply states, with the explanation before it; a reply
    stating no readable choice, or two different ones, is ``unparsed`` (its raw text is kept)."""
    text = text or ""
    choices = {read_choice(m) for m in _CHOICE.findall(text)}
    choices.discard(None)
    if len(choices) != 1:
        return labels.UNPARSED, None
    explanation = text[:text.find("[[")].strip() or text.strip()
    return choices.pop(), explanation


# -- the steps -------------------------------------------------------------------------------------------

def _digest(*parts) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def load_template(path: str | Path | None, default: Path, required: tuple[str, ...], step: str) -> str:
    """A step's template text (a user's file, or OR-Bench's), checked for the placeholders it needs."""
    where = Path(path) if path else default
    try:
        text = where.read_text(encoding="utf-8").rstrip()
    except OSError as exc:
        raise UserError(f"{where}: cannot read the {step} template ({exc.strerror or exc})") from exc
    return check_template(text, required, step, str(where))


def check_template(text: str, required: tuple[str, ...], step: str, where: str = "template") -> str:
    missing = [name for name in required if "{" + name + "}" not in text]
    if missing:
        raise UserError(f"{where}: the {step} template has no {' or '.join('{' + n + '}' for n in missing)} "
                        "placeholder")
    return text


def _need_model(model: str, step: str) -> None:
    if not model:
        raise UserError(f"the {step} step needs a model (--model)")


@dataclass(frozen=True)
class Step:
    """What every generation step shares: template, model, sampling settings and the identity."""
    kind = "step"
    model: str
    template: str
    temperature: float
    max_tokens: int = DEFAULT_MAX_TOKENS

    @property
    def template_hash(self) -> str:
        return _digest(self.template)

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.model}:{_digest(self.template, self.model, self.settings, self.shape)[:8]}"

    @property
    def shape(self) -> tuple:
        """What else shapes this step's answers, besides template, model and settings."""
        return ()

    @property
    def settings(self) -> dict:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}

    def _request(self, content: str) -> dict:
        return {"model": self.model, "messages": [{"role": "user", "content": content}], **self.settings}


@dataclass(frozen=True)
class SeedStep(Step):
    """Toxic seed prompts for a category, ``per_call`` at a time (OR-Bench's
    generate_toxic_promt_from_category.py). Every call of a run is the same request: the sample
    index, not the request, tells them apart."""
    kind = "seed"
    category: str = ""
    per_call: int = SEED_BATCH
    examples: tuple[str, ...] = ()

    def __post_init__(self):
        _need_model(self.model, "seed")
        if not self.category.strip():
            raise UserError("the seed step needs a category name (--category)")
        if self.per_call < 1:
            raise UserError(f"prompts per call must be at least 1, not {self.per_call}")

    @property
    def shape(self) -> tuple:
        return (self.category, self.examples, self.per_call)

    def examples_block(self) -> str:
        if not self.examples:
            return ""
        shown = "\n".join(f"[[{e}]]" for e in self.examples[:MAX_EXAMPLES])
        return f"\n\nHere are some examples of {self.category} prompts:\n{shown}"

    def request(self, count: int) -> dict:
        return self._request(fill(self.template, {"n": count, "category": self.category,
                                                  "examples": self.examples_block()}))

    def read(self, text: str, request: dict) -> Parsed:
        return read_reply(text, request["messages"][-1]["content"])


@dataclass(frozen=True)
class RewriteStep(Step):
    """Each seed rewritten into ``per_seed`` prompts on the line between safe and harmful (OR-Bench's
    mixtral_rewrite_only.py)."""
    kind = "rewrite"
    per_seed: int = REWRITE_PER_SEED

    def __post_init__(self):
        _need_model(self.model, "rewrite")
        if self.per_seed < 1:
            raise UserError(f"rewrites per seed must be at least 1, not {self.per_seed}")

    @property
    def shape(self) -> tuple:
        return (self.per_seed,)

    def request(self, item: dict) -> dict:
        return self._request(fill(self.template, {"n": self.per_seed, "prompt": item["prompt"]}))

    def read(self, text: str, request: dict, item: dict) -> Parsed:
        return read_reply(text, request["messages"][-1]["content"], (item["prompt"],))


@dataclass(frozen=True)
class Moderator:
    """A judge of prompts: which of OR-Bench's categories a prompt falls in, or none (OR-Bench's
    moderate_only.py with its moderation template)."""
    model: str
    template: str
    settings: dict = field(default_factory=lambda: {"temperature": 0, "max_tokens": MODERATE_MAX_TOKENS})
    family = "moderator"  # the judges table's kind
    uses_rubric = False

    def __post_init__(self):
        _need_model(self.model, "moderate")

    @property
    def template_hash(self) -> str:
        return _digest(self.template, self.model, self.settings)

    @property
    def name(self) -> str:
        return f"moderator:{self.model}:{self.template_hash[:8]}"

    @property
    def config(self) -> dict:
        return {"kind": "moderator", "model": self.model, "settings": self.settings,
                "template_sha256": _digest(self.template)}

    def request(self, item: dict) -> dict:
        return {"model": self.model, "messages": [{"role": "user", "content": fill(self.template,
                                                                                  {"prompt": item["prompt"]})}],
                **self.settings}

    def parse(self, text: str, item: dict | None = None) -> tuple[str, str | None]:
        return parse_moderation(text)


def seed_step(model: str, category: str, *, template_file=None, per_call: int = SEED_BATCH,
              examples: tuple[str, ...] = (), temperature: float = SEED_TEMPERATURE,
              max_tokens: int = DEFAULT_MAX_TOKENS, template: str | None = None) -> SeedStep:
    text = (check_template(template, ("category",), "seed") if template is not None
            else load_template(template_file, SEED_TEMPLATE, ("category",), "seed"))
    return SeedStep(model, text, temperature, max_tokens, category.strip(), per_call, tuple(examples))


def rewrite_step(model: str, *, template_file=None, per_seed: int = REWRITE_PER_SEED,
                 temperature: float = REWRITE_TEMPERATURE, max_tokens: int = DEFAULT_MAX_TOKENS,
                 template: str | None = None) -> RewriteStep:
    text = (check_template(template, ("prompt",), "rewrite") if template is not None
            else load_template(template_file, REWRITE_TEMPLATE, ("prompt",), "rewrite"))
    return RewriteStep(model, text, temperature, max_tokens, per_seed)


def moderator(model: str, *, template_file=None, template: str | None = None,
              max_tokens: int = MODERATE_MAX_TOKENS) -> Moderator:
    text = (check_template(template, ("prompt",), "moderate") if template is not None
            else load_template(template_file, MODERATE_TEMPLATE, ("prompt",), "moderate"))
    return Moderator(model, text, {"temperature": 0, "max_tokens": max_tokens})


def seed_calls(n: int, per_call: int) -> list[int]:
    """How many prompts each call asks for to reach ``n``: [20, 20, 10] for 50 at 20 a call (OR-Bench
    asks for 20 every time whatever is left)."""
    if n < 1:
        raise UserError(f"the number of seeds must be at least 1, not {n}")
    return [min(per_call, n - start) for start in range(0, n, per_call)]
