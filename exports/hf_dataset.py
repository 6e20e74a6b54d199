"""A Hugging Face dataset folder: ``data/train-00000-of-00001.parquet`` plus a ``README.md`` dataset
card, and the upload of that folder to the hub.

The Parquet rows are the JSONL export's records (``exports.files.records``: one per response, and
one per prompt without a response), with the same field names, so a team reading the hub copy and
one reading ``export --format jsonl`` see the same thing; nested verdicts and labels stay nested
(lists of structs), free-form metadata and settings are JSON text (their keys differ from row to
row), and ``human_label`` adds the reference agreement is measured against.

The card says what a reader needs to trust the labels: the label vocabulary, every judge with its
label counts, the human annotators and their agreement, and how judge-human agreement was measured,
with the figures (``analysis.agreement.overview``, the numbers the Agreement page shows).
"""

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlite_utils

import labels
from analysis import agreement, bootstrap, humans
from errors import UserError
from exports.files import records
from store import reads

DATA_FILE = "data/train-00000-of-00001.parquet"
_TEXT = pa.string()
SCHEMA = pa.schema([
    ("dataset", _TEXT), ("split", _TEXT), ("id", _TEXT), ("category", _TEXT), ("subcategory", _TEXT),
    ("expected", _TEXT), ("categories", pa.list_(_TEXT)), ("prompt", _TEXT), ("metadata", _TEXT),
    ("model", _TEXT), ("response", _TEXT), ("settings", _TEXT),
    ("verdicts", pa.list_(pa.struct([("judge", _TEXT), ("judge_kind", _TEXT), ("label", _TEXT),
                                     ("rationale", _TEXT)]))),
    ("labels", pa.list_(pa.struct([("annotator", _TEXT), ("label", _TEXT), ("note", _TEXT),
                                   ("created_at", _TEXT)]))),
    ("human_label", _TEXT),
])
FIELDS = {
    "dataset": "the benchmark or import the prompt came from (coconot-original, xstest, inspect:<task>, ...)",
    "split": "the benchmark's own split of the prompt, when it has one",
    "id": "the prompt's id in its benchmark (a hash of the text when it had none)",
    "category / subcategory": "the benchmark's category of the prompt",
    "expected": "should_refuse or should_comply, when the benchmark says",
    "categories": "the reviewing team's own categories of the prompt",
    "prompt": "the prompt text",
    "metadata": "anything else the source said about the prompt (JSON text)",
    "model": "the model that wrote the response (empty for a prompt without responses)",
    "response": "the response text",
    "settings": "how the response was generated, where known (JSON text)",
    "verdicts": "one entry per judge: judge, judge_kind, label, rationale",
    "labels": "each annotator's current label: annotator, label, note, created_at",
    "human_label": "the majority of the annotators' labels; empty when unlabelled or tied",
}


def rows(db: sqlite_utils.Database) -> list[dict]:
    """The Parquet rows: JSONL records with JSON-text metadata/settings and the human reference."""
    out = list(records(db))
    given = pd.DataFrame([{"response_id": i, "annotator": label["annotator"], "label": label["label"]}
                          for i, record in enumerate(out) for label in record["labels"]],
                         columns=["response_id", "annotator", "label"])
    reference = humans.reference(given).set_index("response_id")["reference"].to_dict()
    for i, record in enumerate(out):
        record["metadata"] = json.dumps(record["metadata"], ensure_ascii=False, sort_keys=True)
        record["settings"] = None if record["settings"] is None else json.dumps(record["settings"], ensure_ascii=False)
        record["human_label"] = reference.get(i)
    return out


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


def _interval(row, name: str) -> str:
    value, lo, hi = row[name], row[f"{name}_lo"], row[f"{name}_hi"]
    if value != value:  # NaN: not defined on these items
        return "–"
    return f"{value:.3f} [{lo:.3f}, {hi:.3f}]" if lo == lo else f"{value:.3f}"


def _table(header: list[str], body: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|").replace("\n", " ") for cell in row) + " |"
              for row in body]
    return "\n".join(lines)


def card(db: sqlite_utils.Database, data: list[dict], name: str) -> str:
    """The README.md dataset card for ``data`` (the Parquet rows)."""
    from huggingface_hub import DatasetCardData

    figures = reads.stats(db)
    verdicts = pd.DataFrame([v for r in data for v in r["verdicts"]], columns=["judge", "judge_kind", "label"])
    given = pd.DataFrame([a for r in data for a in r["labels"]], columns=["annotator", "label"])
    responses = [r for r in data if r["model"] is not None]
    overview = agreement.overview(*reads.analysis_frames(db))
    board, people = overview["leaderboard"], overview["humans"]
    header = DatasetCardData(
        pretty_name=name, task_categories=["text-classification"], size_categories=[_size_category(len(data))],
        tags=["refusal", "over-refusal", "llm-as-a-judge", "human-annotation", "refusal-review"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": DATA_FILE}]}],
    )
    models = len({r["model"] for r in responses})
    datasets = _table(["dataset", "prompts", "responses"],
                      [[d, c["prompts"], c["responses"]] for d, c in figures["datasets"].items()])
    vocabulary = _table(["label", "meaning"], [[f"`{k}`", v] for k, v in labels.MEANINGS.items()])
    judge_rows = []
    for judge, group in verdicts.groupby("judge", sort=True):
        counts = group["label"].value_counts()
        judge_rows.append([judge, group["judge_kind"].iloc[0], len(group),
                           *[int(counts.get(label, 0)) for label in labels.JUDGE_LABELS]])
    judges = _table(["judge", "kind", "verdicts", *labels.JUDGE_LABELS], judge_rows) if judge_rows else "No judges."
    board_rows = [[row["judge"], row["n"], _interval(row, "accuracy"), _interval(row, "kappa"),
                   _interval(row, "refusal_f1"), f"{row['unparsed']}" + (" (few items)" if row["few"] else "")]
                  for _, row in board.iterrows()]
    leaderboard = _table(["judge", "items", "accuracy", "Cohen's kappa", "refusal F1", "unparsed"],
                         board_rows) if board_rows else "No judge has verdicts on human-labelled responses yet."
    alpha = (f"Krippendorff's alpha (nominal) among annotators: {_interval(people, 'alpha')} over "
             f"{people['items']} items labelled by two or more of them." if people["items"] else
             "No item was labelled by two or more annotators, so their agreement with each other is not measured.")
    return f"""---
{header.to_yaml()}
---

# {name}

Exported from Refusal Review on {dt.date.today().isoformat()}: {figures['prompts']} prompts,
{len(responses)} responses from {models} model{"s" * (models != 1)}, {len(verdicts)} judge verdicts by
{verdicts['judge'].nunique()} judges, and {len(given)} human labels by {given['annotator'].nunique()} annotators.
One row per response (and one per prompt that has none yet), in `{DATA_FILE}`.

{datasets}

Each prompt keeps the licence of the benchmark it came from; check those before reusing the prompts.

## Fields

{_table(["field", "meaning"], [[f"`{k}`", v] for k, v in FIELDS.items()])}

## Label vocabulary

Every judge verdict and human label is one of these words (benchmark vocabularies such as XSTest's
`1_full_compliance` or CoCoNot's `ACCEPTABLE` were mapped onto them on import). `expected` is
`{labels.SHOULD_REFUSE}` or `{labels.SHOULD_COMPLY}`: what the benchmark says a good model does.

{vocabulary}

## Judges

{judges}

## Human labels

{len(given)} labels by {given['annotator'].nunique()} annotators (each annotator's current label; the history of
changes is not included). {alpha}

## How agreement was measured

Each judge is compared with the human reference: for every response, the label most of its annotators gave.
Tied responses have no reference and are left out ({overview['ties_excluded']} here), never settled by a coin.
Only responses both judged and human-labelled count. An `unparsed` verdict stays in: it is a miss in accuracy
and its own column in Cohen's kappa, and a predicted non-refusal for refusal F1. Intervals are 95% percentile
bootstrap intervals over items ({bootstrap.RESAMPLES} resamples, seed {bootstrap.SEED}); a judge with fewer than
{bootstrap.MIN_ITEMS} items is marked "few items", as its intervals are too wide to act on.

{leaderboard}
"""


def write(db: sqlite_utils.Database, folder, name: str | None = None) -> Path:
    """Write the dataset folder (Parquet and README.md); returns the folder."""
    folder = Path(folder)
    data = rows(db)
    if not data:
        raise UserError("the database has no prompts to export")
    try:
        (folder / DATA_FILE).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(data, schema=SCHEMA), folder / DATA_FILE)
        (folder / "README.md").write_text(card(db, data, name or folder.resolve().name), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{folder}: cannot write the dataset folder ({exc.strerror or exc})") from exc
    return folder


def push(folder, repo: str, private: bool = False) -> str:
    """Upload a folder written by ``write`` to the hub dataset repo ``repo`` (owner/name), creating
    the repo when it does not exist. The token is huggingface_hub's own (HF_TOKEN or ``hf auth
    login``); it never passes through here. Returns the repo's URL."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if not (folder / "README.md").exists() or not (folder / DATA_FILE).exists():
        raise UserError(f"{folder} is not a dataset folder written by export --format hf")
    api = HfApi()
    try:
        api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="dataset",
                          allow_patterns=["README.md", "data/*.parquet"],
                          commit_message="Refusal Review export: responses, verdicts and human labels")
    except Exception as exc:  # network, auth, a bad repo name: one sentence, no traceback
        raise UserError(f"hf://datasets/{repo}: upload failed ({type(exc).__name__}: {exc})") from exc
    return f"{api.endpoint}/datasets/{repo}"
