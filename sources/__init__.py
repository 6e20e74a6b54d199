"""Importers: one module per benchmark plus a generic tabular one, all returning an ImportResult.

``import_file`` is the single entry the CLI and the app both call, so a kind means the same thing
in both.
"""

from sources.batch import ImportResult
from sources.coconot import import_coconot
from sources.errors import SourceError
from sources.inspect_log import import_inspect
from sources.lm_eval import import_lm_eval
from sources.open_instruct import import_open_instruct
from sources.orbench import import_orbench
from sources.promptfoo import import_promptfoo
from sources.refusal_review import import_refusal_review
from sources.tabular import import_tabular
from sources.xstest import import_xstest

#: kind -> importer, called as fn(db, path, **options).
IMPORTERS = {
    "coconot": import_coconot,
    "orbench": import_orbench,
    "xstest": import_xstest,
    "open-instruct": import_open_instruct,
    "generic": import_tabular,
    "refusal-review": import_refusal_review,  # our own JSONL export, read back
    "inspect": import_inspect,  # inspect_ai eval logs (.eval / .json, or a folder of them)
    "promptfoo": import_promptfoo,  # promptfoo eval -o results.json
    "lm-eval": import_lm_eval,  # lm-evaluation-harness --log_samples samples_<task>_<time>.jsonl
}


def import_file(db, kind: str, path, **options) -> ImportResult:
    if kind not in IMPORTERS:
        raise SourceError(path, f"unknown import kind {kind!r}; expected one of {', '.join(sorted(IMPORTERS))}")
    options = {k: v for k, v in options.items() if v is not None}
    return IMPORTERS[kind](db, path, **options)


__all__ = ["IMPORTERS", "ImportResult", "SourceError", "import_file"]
