"""What an importer has read, staged outside the database until it is published all-or-nothing.

Every importer hands its rows to a Batch as it reads them; the Batch keeps one chunk in memory and
stages the rest in a temporary file (store.staging), so a file of a million responses costs the
memory of a few thousand. ``Batch.write`` then checks the staged prompts against the database and
publishes everything in short transactions that a failure undoes (store.staging.import_group), so a
bad row on line 900,000 fails before anything is written and a reviewer's label never waits for the
whole import.
Keeping this here means no importer has its own copy of it.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

import labels
from sources.errors import SourceError
from store import staging
from store.staging import import_group


def text_id(text: str) -> str:
    """A stable id for benchmarks whose prompts have none (OR-Bench): a hash of the text."""
    return hashlib.sha1(text.strip().encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass
class ImportResult:
    path: str
    datasets: list[str]
    prompts: int  # rows in the file's prompts (new or already present)
    responses: int
    verdicts_added: int
    annotations_added: int

    @classmethod
    def combined(cls, path: str, results: list["ImportResult"]) -> "ImportResult":
        """One result for several files imported together (a folder of logs)."""
        return cls(path, sorted({d for r in results for d in r.datasets}), sum(r.prompts for r in results),
                   sum(r.responses for r in results), sum(r.verdicts_added for r in results),
                   sum(r.annotations_added for r in results))

    def summary(self) -> str:
        return (f"{self.path}: {self.prompts} prompts, {self.responses} responses, "
                f"{self.verdicts_added} new verdicts, {self.annotations_added} new annotations "
                f"into {', '.join(self.datasets)}")


@dataclass
class Batch:
    path: str
    origin: str = ""
    id_field: str = "id"  # the file's name for a prompt's id, for errors about ids
    _stage: staging.Stage = field(default_factory=staging.Stage, init=False, repr=False)

    def __post_init__(self):
        self.origin = self.origin or f"import:{Path(self.path).name}"

    def add_prompt(self, line: int | str, dataset: str, source_id: str, text: str, *, split=None, category=None,
                   subcategory=None, expected=None, metadata=None) -> tuple[str, str]:
        """Stage a prompt; a prompt seen earlier in the file keeps what it had then, and must have
        the same text. ``line`` is the row's line, or for a file without lines (a JSON document, an
        eval log) the path of the record in it, e.g. ``results[3]``, which errors then name as the
        field."""
        key = (dataset, str(source_id))
        known = self._stage.prompt(key)
        if known is not None:
            if not staging.same_text(known[1], text):
                first = f"line {known[0]}" if isinstance(known[0], int) else known[0]
                raise self._id_error(line, f"duplicate id {source_id!r} with a different prompt than {first}")
            return key
        if expected is None:
            expected = labels.expected_for(dataset, split)
        self._stage.add_prompt(dict(line=line, dataset=dataset, split=split, source_id=key[1], category=category,
                                    subcategory=subcategory, text=text, expected=expected, metadata=metadata or {}))
        return key

    def _id_error(self, line: int | str, message: str) -> SourceError:
        if isinstance(line, str):
            return SourceError(self.path, message, field=f"{line}.{self.id_field}")
        return SourceError(self.path, message, line=line, field=self.id_field)

    @property
    def prompts(self) -> int:
        """How many prompts are staged so far."""
        return self._stage.count_prompts()

    def add_response(self, prompt_key, model: str, text: str, settings=None) -> int:
        return self._stage.add_response(prompt_key, model, text, settings)

    def add_verdict(self, response_index: int, judge: str, kind: str, label: str, rationale=None, raw_output=None):
        self._stage.add_verdict(response_index, judge, kind, label, rationale, raw_output)

    def add_annotation(self, response_index: int, annotator: str, label: str, note=None):
        self._stage.add_annotation(response_index, annotator, label, note)

    def add_assignment(self, prompt_key, category: str):
        """The prompt belongs to the team category named ``category`` (created when missing)."""
        self._stage.add_assignment(prompt_key, category)

    def preview(self, rows: int = 5) -> list[dict]:
        """The first responses (or prompts, when there are none) as flat rows, for a look before
        importing: what each prompt and response became, and every verdict it carries."""
        return self._stage.preview(rows)

    def write(self, db: sqlite_utils.Database, on_progress: Callable[[str, int], None] | None = None,
              last: Callable[[sqlite_utils.Database], None] | None = None) -> ImportResult:
        """Publish what was staged (see store.staging); ``on_progress(phase, rows)`` follows it.
        Inside ``store.import_group`` (several files as one import) the human labels are added, and
        counted in the result, when the group finishes. ``last(db)`` writes what the importer hangs
        on the published responses in that same last transaction: a failure there undoes the whole
        import."""
        totals = self._stage.totals()
        if not totals["prompts"]:
            self._stage.close()
            raise SourceError(self.path, "no rows to import")
        result = ImportResult(self.path, totals["datasets"], totals["prompts"], totals["responses"], 0, 0)
        try:
            with import_group(db, on_progress) as group:
                result.verdicts_added = group.add(self._stage, self.origin,
                                                  lambda n: setattr(result, "annotations_added", n), last)
        except staging.PromptConflict as exc:
            raise self._id_error(exc.line, f"id {exc.source_id!r} is already in dataset {exc.dataset!r} with a "
                                 f"different prompt ({_clip(exc.existing)}); an id names one prompt: give this "
                                 "one a new id, or import it into another dataset") from exc
        return result


def _clip(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= n else text[: n - 1] + "…")
