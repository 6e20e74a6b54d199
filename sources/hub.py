"""``fetch``: download a benchmark from the Hugging Face hub and import it with the same importers
a local file goes through.

Where the files are (dataset repos, main branch):
- allenai/coconot: ``original/test-00000-of-00001.parquet`` (1001 prompts),
  ``contrast/test-00000-of-00001.parquet`` (379), ``pref/train-00000-of-00001.parquet`` (927 pairs).
  The hub holds Parquet only (the JSONL files were replaced by ``datasets`` uploads), so each is
  converted to the JSONL the CoCoNot importer reads. ``original/train`` is the SFT training data,
  not a test set, and is not fetched.
- bench-llm/or-bench: ``or-bench-80k.csv``, ``or-bench-hard-1k.csv``, ``or-bench-toxic.csv``.
- Paul/XSTest: ``xstest_prompts.csv`` (450 prompts; the hub has no completions).

All files are downloaded first (huggingface_hub's cache makes a second fetch free), then imported
as one import (store.import_group): a fetch adds a whole benchmark or nothing.
"""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from sources import import_file
from sources.batch import ImportResult
from sources.errors import SourceError
from store import import_group


@dataclass(frozen=True)
class HubFile:
    repo: str
    filename: str
    kind: str  # importer kind in sources.IMPORTERS
    local_name: str  # the name the importer sees (its set guessing reads it); its suffix is the format
    options: dict = field(default_factory=dict)


SOURCES = {
    "coconot": [
        HubFile("allenai/coconot", "original/test-00000-of-00001.parquet", "coconot", "coconot_eval.jsonl",
                {"coconot_set": "original"}),
        HubFile("allenai/coconot", "contrast/test-00000-of-00001.parquet", "coconot", "coconot_contrast_eval.jsonl",
                {"coconot_set": "contrast"}),
        HubFile("allenai/coconot", "pref/train-00000-of-00001.parquet", "coconot", "coconot_pref.jsonl",
                {"coconot_set": "pref"}),
    ],
    "orbench": [
        HubFile("bench-llm/or-bench", f"or-bench-{s}.csv", "orbench", f"or-bench-{s}.csv", {"orbench_set": s})
        for s in ("80k", "hard-1k", "toxic")
    ],
    "xstest": [HubFile("Paul/XSTest", "xstest_prompts.csv", "xstest", "xstest_prompts.csv")],
}


def download(repo: str, filename: str) -> str:
    """Local path of one file of a hub dataset repo (cached by huggingface_hub)."""
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(repo_id=repo, filename=filename, repo_type="dataset")
    except Exception as exc:  # network, auth, missing file: all end the fetch with one sentence
        raise SourceError(f"hf://datasets/{repo}/{filename}", f"download failed ({type(exc).__name__}: {exc})") from exc


def fetch(db: sqlite_utils.Database, name: str) -> list[ImportResult]:
    """Download benchmark ``name`` (coconot, orbench, xstest) and import all its files at once."""
    if name not in SOURCES:
        raise SourceError(name, f"unknown benchmark; expected one of {', '.join(SOURCES)}")
    with tempfile.TemporaryDirectory(prefix="refusal-review-fetch-") as tmp:
        local = [(f, as_format(download(f.repo, f.filename), Path(tmp) / f.local_name)) for f in SOURCES[name]]
        with import_group(db):
            return [import_file(db, f.kind, path, **f.options) for f, path in local]


def as_format(downloaded, target: Path) -> Path:
    """The downloaded file in the format ``target``'s suffix names, under ``target``'s name.

    Parquet is converted with pandas; other files are linked (or copied) so the importer sees a
    file name it can read the set from.
    """
    source = Path(downloaded)
    if source.suffix == ".parquet" and target.suffix != ".parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(source)
        except Exception as exc:  # pyarrow raises many types for a bad file
            raise SourceError(source, f"not a readable Parquet file ({exc})") from exc
        if target.suffix == ".jsonl":
            frame.to_json(target, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_csv(target, index=False)
        return target
    try:
        target.symlink_to(source.resolve())
    except OSError:
        target.write_bytes(source.read_bytes())
    return target
