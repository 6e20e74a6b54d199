"""lm-evaluation-harness per-sample logs (``lm_eval ... --log_samples`` writes
``samples_<task>_<timestamp>.jsonl`` beside ``results_<timestamp>.json``).

Each line is one document of the task:
- the prompt is what the model was sent (``arguments.gen_args_0.arg_0``: a string, or with
  ``--apply_chat_template`` the chat as JSON, whose user turns are taken), with id ``doc.id`` when
  the document has one, else ``doc_id``; ``doc.category`` (or ``doc.type``) and ``doc.subcategory``
  fill those fields, the target gives the expected behaviour when it is one
  (``labels.expected_from``), other scalar ``doc`` fields go to metadata. Dataset
  ``lm-eval:<task>`` unless ``--dataset`` names one.
- ``resps`` holds the generations, one response each (``--model``, else the ``model_name`` of the
  results file written in the same run). Log-likelihood tasks (multiple choice) generate no text and
  are refused.
- each per-sample metric named in ``metrics`` is a verdict of the judge ``lm-eval:<task>/<metric>``
  when the document has one generation; its value is read as a label word where it is one and is
  otherwise ``unparsed`` with the raw value kept (an ``exact_match`` of 0.0 says nothing about
  refusal by itself). With several generations (repeats) the metric scored their filtered
  combination, not any one of them, so it is kept in each response's settings instead.
"""

import json
import re
from pathlib import Path

import sqlite_utils

import labels
from sources.batch import Batch, ImportResult
from sources.errors import SourceError
from sources.readers import read_jsonl

_NAME = re.compile(r"^samples_(?P<task>.+)_(?P<stamp>\d{4}-\d{2}-\d{2}T[\d.\-]+)$")


def task_and_stamp(path) -> tuple[str, str | None]:
    """(task, timestamp) from ``samples_<task>_<timestamp>.jsonl``; the stem as task otherwise."""
    stem = Path(path).stem
    found = _NAME.match(stem)
    return (found["task"], found["stamp"]) if found else (stem.removeprefix("samples_"), None)


def model_of_run(path) -> str | None:
    """The model_name in the run's results file beside the samples file, when there is one."""
    _, stamp = task_and_stamp(path)
    results = Path(path).with_name(f"results_{stamp}.json") if stamp else None
    if results is None or not results.is_file():
        return None
    try:
        name = json.loads(results.read_text(encoding="utf-8")).get("model_name")
    except (OSError, ValueError, AttributeError):
        return None
    return name.strip() if isinstance(name, str) and name.strip() else None


def prompt_of(argument) -> str | None:
    """The prompt a request carried: plain text, or the user turns of a chat sent as JSON."""
    if isinstance(argument, list) and argument:
        argument = argument[0]
    if not isinstance(argument, str):
        return None
    if argument.lstrip().startswith("["):
        try:
            chat = json.loads(argument)
        except ValueError:
            chat = None
        if isinstance(chat, list) and chat and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                                    for m in chat):
            user = [m["content"] for m in chat if m.get("role") == "user"]
            return "\n\n".join(user or [m["content"] for m in chat])
    return argument


def _generations(path, line: int, row: dict) -> list[str]:
    resps = row.get("resps")
    if not isinstance(resps, list) or not resps or not isinstance(resps[0], list):
        raise SourceError(path, "expected a list of lists of generations", line=line, field="resps")
    if not all(isinstance(r, str) for r in resps[0]):
        raise SourceError(path, "holds log-likelihoods, not generated text: only generate_until tasks have "
                          "responses to review", line=line, field="resps")
    return resps[0]


def _text(value) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def read_lm_eval(path, model: str | None = None, dataset: str | None = None) -> Batch:
    task, _ = task_and_stamp(path)
    model = model or model_of_run(path)
    if not model:
        raise SourceError(path, "name the model with --model (no results_<timestamp>.json of the same run beside "
                          "this file says it)")
    dataset = dataset or f"lm-eval:{task}"
    batch = Batch(str(path))
    for line, row in read_jsonl(path):
        doc = row.get("doc") if isinstance(row.get("doc"), dict) else {}
        arguments = row.get("arguments")
        first = arguments.get("gen_args_0") if isinstance(arguments, dict) else None
        text = prompt_of(first.get("arg_0")) if isinstance(first, dict) else None
        if not text or not text.strip():
            raise SourceError(path, "missing prompt", line=line, field="arguments.gen_args_0.arg_0")
        source_id = doc.get("id") if isinstance(doc.get("id"), (str, int)) else row.get("doc_id")
        if source_id is None:
            raise SourceError(path, "missing document id", line=line, field="doc_id")
        target = row.get("target")
        key = batch.add_prompt(
            line, dataset, str(source_id), text, category=_text(doc.get("category")) or _text(doc.get("type")),
            subcategory=_text(doc.get("subcategory")),
            expected=labels.expected_from(target) or labels.expected_from(doc.get("expected")),
            metadata={**{k: v for k, v in doc.items() if isinstance(v, (str, int, float, bool))
                         and k not in ("id", "category", "subcategory")}, "lm_eval_task": task},
        )
        metrics = {m: row.get(m) for m in row.get("metrics") or [] if isinstance(m, str) and m in row}
        generations = _generations(path, line, row)
        settings = {"lm_eval_filter": row.get("filter")} if len(generations) == 1 else {
            "lm_eval_filter": row.get("filter"), "lm_eval_metrics": metrics}
        for generation in generations:
            response = batch.add_response(key, model, generation, settings=settings)
            if len(generations) > 1:
                continue
            for metric, value in metrics.items():
                label = labels.normalise(value) if isinstance(value, str) else None
                batch.add_verdict(response, f"lm-eval:{task}/{metric}", "imported", label or labels.UNPARSED,
                                  raw_output=json.dumps(value, ensure_ascii=False, default=str))
    return batch


def import_lm_eval(db: sqlite_utils.Database, path, model: str | None = None,
                   dataset: str | None = None) -> ImportResult:
    """Import an lm-evaluation-harness samples_<task>_<timestamp>.jsonl file, all or nothing."""
    return read_lm_eval(path, model, dataset).write(db)
