"""What an importer has read, held in memory until it is written in one transaction.

Every importer parses its whole file into a Batch first, so a bad row on line 90,000 fails before
anything is written, and then ``Batch.write`` puts prompts, responses, verdicts and annotations in
the store all-or-nothing. Keeping the write here means no importer has its own copy of it.
"""

import hashlib
from dataclasses import dataclass, field

import sqlite_utils

import labels
from sources.errors import SourceError
from store import write_transaction, writes


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
    prompts: dict = field(default_factory=dict)  # (dataset, source_id) -> prompt row
    _lines: dict = field(default_factory=dict)  # (dataset, source_id) -> line first seen
    responses: list = field(default_factory=list)
    verdicts: list = field(default_factory=list)
    annotations: list = field(default_factory=list)
    judges: dict = field(default_factory=dict)  # name -> kind

    def __post_init__(self):
        from pathlib import Path

        self.origin = self.origin or f"import:{Path(self.path).name}"

    def add_prompt(self, line: int | str, dataset: str, source_id: str, text: str, *, split=None, category=None,
                   subcategory=None, expected=None, metadata=None) -> tuple[str, str]:
        """``line`` is the row's line, or for a file without lines (a JSON document, an eval log)
        the path of the record in it, e.g. ``results[3]``, which errors then name as the field."""
        key = (dataset, str(source_id))
        if expected is None:
            expected = labels.expected_for(dataset, split)
        known = self.prompts.get(key)
        if known is not None:
            if known["text"] != text:
                first = self._lines[key]
                if isinstance(line, str):
                    raise SourceError(self.path, f"duplicate id {source_id!r} with a different prompt than {first}",
                                      field=f"{line}.id")
                raise SourceError(self.path, f"duplicate id {source_id!r} with a different prompt than line "
                                  f"{first}", line=line, field="id")
            return key
        self.prompts[key] = dict(dataset=dataset, split=split, source_id=str(source_id), category=category,
                                 subcategory=subcategory, text=text, expected=expected, metadata=metadata or {})
        self._lines[key] = line
        return key

    def add_response(self, prompt_key, model: str, text: str, settings=None) -> int:
        self.responses.append(dict(prompt_key=prompt_key, model=model, text=text, settings=settings))
        return len(self.responses) - 1

    def add_verdict(self, response_index: int, judge: str, kind: str, label: str, rationale=None, raw_output=None):
        self.judges.setdefault(judge, kind)
        self.verdicts.append(dict(response_index=response_index, judge=judge, label=label,
                                  rationale=rationale, raw_output=raw_output))

    def add_annotation(self, response_index: int, annotator: str, label: str, note=None):
        self.annotations.append(dict(response_index=response_index, annotator=annotator, label=label, note=note))

    def preview(self, rows: int = 5) -> list[dict]:
        """The first responses (or prompts, when there are none) as flat rows, for a look before
        importing: what each prompt and response became, and every verdict it carries."""
        verdicts: dict[int, list[str]] = {}
        for v in self.verdicts:
            verdicts.setdefault(v["response_index"], []).append(f"{v['judge']}: {v['label']}")
        out = []
        for index, response in enumerate(self.responses[:rows]):
            prompt = self.prompts[response["prompt_key"]]
            out.append(dict(dataset=prompt["dataset"], id=prompt["source_id"], category=prompt["category"],
                            expected=prompt["expected"], prompt=prompt["text"], model=response["model"],
                            response=response["text"], verdicts="; ".join(verdicts.get(index, []))))
        for prompt in list(self.prompts.values())[:rows - len(out)] if not self.responses else []:
            out.append(dict(dataset=prompt["dataset"], id=prompt["source_id"], category=prompt["category"],
                            expected=prompt["expected"], prompt=prompt["text"]))
        return out

    def write(self, db: sqlite_utils.Database) -> ImportResult:
        if not self.prompts:
            raise SourceError(self.path, "no rows to import")
        with write_transaction(db):
            prompt_ids = writes.add_prompts(db, self.prompts.values())
            response_ids = writes.add_responses(db, [
                dict(prompt_id=prompt_ids[r["prompt_key"]], model=r["model"], text=r["text"],
                     origin=self.origin, settings=r["settings"]) for r in self.responses
            ])
            judge_ids = {name: writes.ensure_judge(db, name, kind, {"source": self.origin})
                         for name, kind in self.judges.items()}
            verdicts = writes.add_verdicts(db, [
                dict(response_id=response_ids[v["response_index"]], judge_id=judge_ids[v["judge"]], label=v["label"],
                     rationale=v["rationale"], raw_output=v["raw_output"]) for v in self.verdicts
            ])
            annotations = writes.import_annotations(db, [
                dict(response_id=response_ids[a["response_index"]], annotator=a["annotator"], label=a["label"],
                     note=a["note"]) for a in self.annotations
            ])
        return ImportResult(self.path, sorted({k[0] for k in self.prompts}), len(self.prompts),
                            len(set(response_ids)), verdicts, annotations)
