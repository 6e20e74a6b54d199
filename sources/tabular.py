"""Any CSV, JSONL or Parquet file of prompts (and optionally responses, human labels and judge
labels), read through a column mapping: ``--map prompt=question --map response=answer``.

Fields (each maps to one column; the ones marked * are used without a mapping when the file has
a column of exactly that name):

- ``prompt``* (required), ``id``* (else a hash of the prompt text), ``category``*,
  ``subcategory``*, ``split``*, ``expected``* (should_refuse / should_comply);
- ``response``* and ``model``* (a column; else ``--model``, which is then required);
- ``label``*: a human label column (any label word labels.py knows; an unknown one is an
  error); ``annotator``*: the column naming who gave it, else the label column's own name;
- ``judge_label``: a judge's label column, repeatable; each judge is named after its column
  and an unreadable value is kept as ``unparsed`` with its raw text.

Everything lands in the dataset named by ``--dataset``.
"""

from collections.abc import Iterable

import sqlite_utils

import labels
from sources.batch import Batch, ImportResult, text_id
from sources.errors import SourceError
from sources.readers import optional, read_table, require, require_columns

SINGLE = ("prompt", "id", "category", "subcategory", "split", "expected", "response", "model", "label", "annotator")
BY_NAME = ("prompt", "id", "category", "subcategory", "split", "expected", "response", "model", "label", "annotator")
FIELDS = SINGLE + ("judge_label",)


#: Column names a field is guessed from (the Import page's starting mapping), most telling first.
GUESSES = {
    "prompt": ("prompt", "question", "input", "instruction", "query", "request"),
    "response": ("response", "answer", "output", "completion", "reply", "generation"),
    "model": ("model", "model_name", "model_id", "provider"),
    "id": ("id", "uid", "sample_id", "prompt_id", "idx"),
    "category": ("category", "type", "topic"),
    "subcategory": ("subcategory", "sub_category", "subtype"),
    "expected": ("expected", "expected_behaviour", "expected_behavior"),
    "split": ("split", "subset"),
    "label": ("label", "human_label", "annotation", "gold_label"),
    "annotator": ("annotator", "rater", "labeller", "labeler"),
}


def guess_mapping(columns) -> dict[str, str]:
    """{field: column} guessed from column names: a column named exactly as a field's word first,
    then one whose name has that word as a part (``question_text`` -> prompt); each column at
    most once, fields in GUESSES order. A starting point for a person to correct, never used
    without being shown."""
    def parts(column: str) -> list[str]:
        return str(column).strip().lower().replace("-", "_").replace(" ", "_").split("_")

    taken: set[str] = set()
    found = {}
    for field, words in GUESSES.items():
        for test in (lambda c, w: "_".join(parts(c)) == w, lambda c, w: w in parts(c)):
            match = next((c for w in words for c in columns if c not in taken and test(c, w)), None)
            if match is not None:
                found[field] = match
                taken.add(match)
                break
    return found


def parse_mapping(path, mapping) -> tuple[dict[str, str], list[str]]:
    """``["prompt=question", ...]`` (or a dict) -> ({field: column}, [judge label columns])."""
    pairs = mapping.items() if isinstance(mapping, dict) else [_split(path, m) for m in mapping or ()]
    fields, judges = {}, []
    for field, column in pairs:
        if field not in FIELDS:
            raise SourceError(path, f"unknown field {field!r} in --map; fields are {', '.join(FIELDS)}")
        if field == "judge_label":
            judges.append(column)
        elif field in fields and fields[field] != column:
            raise SourceError(path, f"field {field!r} is mapped twice ({fields[field]!r} and {column!r})")
        else:
            fields[field] = column
    return fields, judges


def _split(path, item: str) -> tuple[str, str]:
    field, sep, column = item.partition("=")
    if not sep or not field.strip() or not column.strip():
        raise SourceError(path, f"--map {item!r} is not field=column")
    return field.strip(), column.strip()


def read_tabular(path, dataset: str | None = None, mapping: Iterable[str] | dict | None = None,
                 model: str | None = None) -> Batch:
    if not dataset or not dataset.strip():
        raise SourceError(path, "name the dataset these rows belong to with --dataset")
    fields, judges = parse_mapping(path, mapping)
    columns, rows = read_table(path)
    require_columns(path, columns, list(fields.values()) + judges)
    for field in BY_NAME:
        if field not in fields and field in columns:
            fields[field] = field
    if fields.get("response") is None:  # a prompt file's own "label" column (say, safe/unsafe) is no human label
        for field in ("label", "annotator"):
            if fields.get(field) == field and field not in parse_mapping(path, mapping)[0]:
                del fields[field]
    _check_fields(path, fields, judges, model)
    col = fields.get
    batch = Batch(str(path), id_field=col("id") or "id")
    for line, row in rows:
        text = require(path, line, row, col("prompt"))
        source_id = require(path, line, row, col("id")) if col("id") else text_id(text)
        key = batch.add_prompt(
            line, dataset.strip(), source_id, text, split=_opt(row, col("split")),
            category=_opt(row, col("category")), subcategory=_opt(row, col("subcategory")),
            expected=_expected(path, line, row, col("expected")),
        )
        if not col("response"):
            continue
        writer = _opt(row, col("model")) or model
        if not writer:
            raise SourceError(path, "empty model and no --model to fall back on", line=line, field=col("model"))
        response = batch.add_response(key, writer, require(path, line, row, col("response"), allow_empty=True))
        if col("label") and (raw := optional(row, col("label"))) is not None:
            label = labels.normalise(raw)
            if label is None:
                raise SourceError(path, f"unknown label {raw!r}; expected one of {', '.join(labels.LABELS)}",
                                  line=line, field=col("label"))
            annotator = (_opt(row, col("annotator")) if col("annotator") else None) or col("label")
            batch.add_annotation(response, annotator, label)
        for column in judges:
            if (raw := optional(row, column)) is not None:
                batch.add_verdict(response, column, "imported", labels.normalise(raw) or labels.UNPARSED,
                                  raw_output=raw)
    return batch


def _check_fields(path, fields: dict, judges: list, model: str | None) -> None:
    if "prompt" not in fields:
        raise SourceError(path, "no prompt column: map one with --map prompt=COLUMN", line=1, field="prompt")
    needs_response = [f for f in ("model", "label", "annotator") if f in fields] + (["judge_label"] if judges else [])
    if "response" not in fields and needs_response:
        raise SourceError(path, f"{needs_response[0]} is mapped but there is no response column: "
                          "map one with --map response=COLUMN", line=1, field="response")
    if "response" in fields and "model" not in fields and not model:
        raise SourceError(path, "name the model that wrote the responses with --model, or map a model column",
                          line=1, field="model")


def _opt(row: dict, column: str | None) -> str | None:
    return optional(row, column) if column else None


def _expected(path, line: int, row: dict, column: str | None) -> str | None:
    value = _opt(row, column)
    if value is None:
        return None
    value = value.strip().lower()
    if value not in labels.EXPECTED:
        raise SourceError(path, f"unknown expected behaviour {value!r}; expected {' or '.join(labels.EXPECTED)}",
                          line=line, field=column)
    return value


def import_tabular(db: sqlite_utils.Database, path, dataset: str | None = None,
                   mapping: Iterable[str] | dict | None = None, model: str | None = None) -> ImportResult:
    """Import a generic CSV / JSONL / Parquet file through a column mapping into ``dataset``."""
    return read_tabular(path, dataset, mapping, model).write(db)
