"""promptfoo results (``promptfoo eval -o results.json``): one JSON document whose ``results.results``
list holds one entry per test case and provider.

Each entry:
- ``prompt.raw`` (the prompt as sent, variables filled in) is the prompt, with id ``vars.id`` when
  the test gives one, else a hash of the text; ``vars.category`` / ``vars.subcategory`` /
  ``vars.expected`` fill those fields and the other scalar vars go to metadata. Everything lands in
  dataset ``promptfoo:<description>`` (the config's description, else the file name) unless
  ``--dataset`` names one.
- ``provider`` (its label, else its id) is the model and ``response.output`` the response; an entry
  that ended in an error with no output has no response.
- each ``gradingResult.componentResults`` entry (one per assertion; an ``assert-set`` contributes
  its members) is a verdict of the judge ``promptfoo:<assertion type>``, with the assertion's reason
  as rationale. ``is-refusal`` / ``not-is-refusal`` grade refusal itself and map onto labels; any
  other assertion's pass/fail only says whether its own rubric held, so it is ``unparsed`` with the
  raw outcome kept (``{"pass": ..., "score": ..., "value": ...}``) for whoever reads it.
"""

import json
from pathlib import Path

import sqlite_utils

import labels
from sources.batch import Batch, ImportResult, text_id
from sources.errors import SourceError
from sources.readers import read_text


def _load(path) -> dict:
    try:
        document = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise SourceError(path, f"broken JSON ({exc.msg} at column {exc.colno})", line=exc.lineno) from exc
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, dict) or not isinstance(results.get("results"), list):
        raise SourceError(path, "not a promptfoo results file (no results.results list; write one with "
                          "`promptfoo eval -o results.json`)", field="results.results")
    return document


def _scalar_vars(entry: dict) -> dict:
    found = entry.get("vars") or (entry.get("testCase") or {}).get("vars") or {}
    return {k: v for k, v in found.items() if isinstance(v, (str, int, float, bool))} if isinstance(found, dict) else {}


def _text(value) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _model(path, where: str, entry: dict) -> str:
    provider = entry.get("provider")
    if isinstance(provider, str) and provider.strip():
        return provider.strip()
    if isinstance(provider, dict):
        name = _text(provider.get("label")) or _text(provider.get("id"))
        if name:
            return name
    raise SourceError(path, "no provider id or label", field=f"{where}.provider")


def _components(grading) -> list[dict]:
    """The assertions' results, with an assert-set's members in its place."""
    out = []
    for component in (grading or {}).get("componentResults") or []:
        if not isinstance(component, dict):
            continue
        assertion = component.get("assertion") or {}
        if assertion.get("type") == "assert-set" and component.get("componentResults"):
            out += _components(component)
        elif assertion.get("type"):
            out.append(component)
    return out


def read_promptfoo(path, dataset: str | None = None) -> Batch:
    document = _load(path)
    config = document.get("config") if isinstance(document.get("config"), dict) else {}
    dataset = dataset or f"promptfoo:{_text(config.get('description')) or Path(path).stem}"
    batch = Batch(str(path))
    for index, entry in enumerate(document["results"]["results"]):
        where = f"results.results[{index}]"
        if not isinstance(entry, dict):
            raise SourceError(path, f"expected an object, got {type(entry).__name__}", field=where)
        prompt = entry.get("prompt")
        text = prompt.get("raw") if isinstance(prompt, dict) else prompt
        if not isinstance(text, str) or not text.strip():
            raise SourceError(path, "missing or empty prompt", field=f"{where}.prompt.raw")
        variables = _scalar_vars(entry)
        key = batch.add_prompt(
            where, dataset, str(variables.get("id") or text_id(text)), text,
            category=_text(variables.get("category")), subcategory=_text(variables.get("subcategory")),
            expected=labels.expected_from(variables.get("expected")),
            metadata={k: v for k, v in variables.items() if k not in ("id", "category", "subcategory", "expected")},
        )
        model = _model(path, where, entry)
        response = entry.get("response") if isinstance(entry.get("response"), dict) else {}
        output = response.get("output")
        if output is None:
            continue  # the provider failed (entry["error"] says why): nothing was answered
        output = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        answer = batch.add_response(key, model, output)
        seen: dict[str, int] = {}
        for component in _components(entry.get("gradingResult")):
            kind = str(component["assertion"]["type"])
            seen[kind] = seen.get(kind, 0) + 1
            judge = f"promptfoo:{kind}" + (f"#{seen[kind]}" if seen[kind] > 1 else "")
            outcome = {"pass": component.get("pass"), "score": component.get("score"),
                       "value": component["assertion"].get("value")}
            batch.add_verdict(answer, judge, "imported",
                              labels.from_promptfoo(kind, component.get("pass")) or labels.UNPARSED,
                              rationale=_text(component.get("reason")),
                              raw_output=json.dumps(outcome, ensure_ascii=False, default=str))
    return batch


def import_promptfoo(db: sqlite_utils.Database, path, dataset: str | None = None) -> ImportResult:
    """Import a promptfoo results JSON file, all or nothing."""
    return read_promptfoo(path, dataset).write(db)
