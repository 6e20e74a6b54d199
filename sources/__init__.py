"""Importers: one module per benchmark or eval tool plus a generic tabular one, all returning an
ImportResult.

``KINDS`` says, once, what each kind reads (its file suffixes and the options it takes), and
``import_file`` is the single entry the CLI and the app's Import page both call, so a kind means
the same thing in both.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sources.batch import Batch, ImportResult
from sources.coconot import import_coconot
from sources.errors import SourceError
from sources.inspect_log import import_inspect, read_inspect
from sources.lm_eval import import_lm_eval, read_lm_eval
from sources.open_instruct import import_open_instruct
from sources.orbench import import_orbench
from sources.promptfoo import import_promptfoo, read_promptfoo
from sources.refusal_review import import_refusal_review
from sources.tabular import import_tabular
from sources.xstest import import_xstest


@dataclass(frozen=True)
class Kind:
    importer: Callable  # fn(db, path, **options) -> ImportResult
    about: str
    suffixes: tuple[str, ...]  # what the file may end in (without the dot)
    options: tuple[str, ...] = ()  # importer arguments it takes: coconot_set, orbench_set, model, dataset, mapping
    reader: Callable | None = None  # fn(path, **options) -> Batch(es): a preview for files that are not tables


TABLES = ("csv", "tsv", "jsonl", "json", "parquet")
KINDS = {
    "coconot": Kind(import_coconot, "CoCoNot test set or preference data (allenai/coconot JSONL)", ("jsonl", "json"),
                    ("coconot_set", "model")),
    "orbench": Kind(import_orbench, "OR-Bench prompts or checker results", TABLES, ("orbench_set", "model")),
    "xstest": Kind(import_xstest, "XSTest prompts or annotated completions", TABLES, ("model",)),
    "open-instruct": Kind(import_open_instruct, "open-instruct predictions on CoCoNot", ("jsonl", "json"),
                          ("coconot_set", "model")),
    "generic": Kind(import_tabular, "any CSV / JSONL / Parquet table, through a column mapping", TABLES,
                    ("dataset", "mapping", "model")),
    "refusal-review": Kind(import_refusal_review, "this app's own JSONL export, read back", ("jsonl", "json")),
    "inspect": Kind(import_inspect, "inspect_ai eval log (.eval or .json; on the CLI also a folder of them)",
                    ("eval", "json"), ("dataset",), read_inspect),
    "promptfoo": Kind(import_promptfoo, "promptfoo results (promptfoo eval -o results.json)", ("json",),
                      ("dataset",), read_promptfoo),
    "lm-eval": Kind(import_lm_eval, "lm-evaluation-harness samples_<task>_<time>.jsonl (--log_samples)", ("jsonl",),
                    ("model", "dataset"), read_lm_eval),
}
#: kind -> importer, called as fn(db, path, **options).
IMPORTERS = {name: kind.importer for name, kind in KINDS.items()}


def import_file(db, kind: str, path, **options) -> ImportResult:
    if kind not in IMPORTERS:
        raise SourceError(path, f"unknown import kind {kind!r}; expected one of {', '.join(sorted(IMPORTERS))}")
    options = {k: v for k, v in options.items() if v is not None}
    return IMPORTERS[kind](db, path, **options)


def import_as(db, user: str | None, kind: str, path, **options) -> ImportResult:
    """``import_file`` for a person using the app: the store first checks they are a reviewer or
    admin (and refuses anyone else), then the file is imported as any import is, staged and then
    published in short transactions, so the other reviewers keep labelling meanwhile."""
    from store import users

    with users.writing_as(db, user, "reviewer"):
        pass  # the role check (and a first-comer's registration), in its own short transaction
    return import_file(db, kind, path, **options)


def preview(kind: str, path, rows: int = 5, **options) -> list[dict]:
    """The first rows of a file as the importer of ``kind`` reads it, nothing written: the parsed
    prompts and responses for eval-tool output, the raw rows of a table otherwise. Raises the
    importer's own SourceError for a file it would refuse."""
    from sources.readers import read_table

    options = {k: v for k, v in options.items() if v is not None}
    reader = KINDS[kind].reader
    if reader is None:
        _, table = read_table(path)
        return [row for _, (_, row) in zip(range(rows), table)]
    found = reader(path, **options)
    batches = found if isinstance(found, list) else [found]
    return [row for batch in batches for row in batch.preview(rows)][:rows]


__all__ = ["IMPORTERS", "KINDS", "Batch", "ImportResult", "Kind", "SourceError", "import_as", "import_file",
           "preview"]
