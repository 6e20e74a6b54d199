"""Export files: CSV, JSONL, Parquet and a CoCoNot-style JSONL, from the frames in store/export.py.

- CSV and Parquet are one wide table, one row per response (and per prompt without a response):
  the prompt's fields, the response, ``verdict:<judge>`` and ``rationale:<judge>`` for every judge,
  ``label:<annotator>`` and ``note:<annotator>`` for every annotator's current label. With
  ``history`` a second file ``<name>.history.<ext>`` holds every label row ever written.
- JSONL is one object per response with its verdicts, labels, tags, comments and the
  adjudicator's final label nested (``history`` adds every label row): it is the format the
  ``refusal-review`` importer reads back, so an export moves a team's work to another database.
- CoCoNot-style JSONL has CoCoNot's fields ``id, category, subcategory, prompt, response`` (plus
  model, dataset, expected, labels, verdicts); a prompt in the team's own categories takes the top
  category as ``category`` and the one below as ``subcategory``, one row per category it is in; a
  prompt with no category at all gets ``uncategorised``.

Every export covers a ``Selection`` (the Review filter; by default everything). ``infer_format``
reads the format off the file name (``out.csv``), so the CLI needs ``--format`` only for CoCoNot's.

CSV cells that a spreadsheet would run as a formula (text starting with = + - @, tab or carriage
return) get a leading apostrophe, so opening an export never runs a model's output. ``csv_bytes`` is
the one CSV writer of the app and the CLI: every table's "Download CSV" button uses it too.
"""

import io
import json
from pathlib import Path

import pandas as pd
import sqlite_utils

from errors import UserError
from store import adjudication, discussion
from store import export as frames
from store.selection import Selection

FORMATS = ("csv", "jsonl", "parquet", "coconot")
SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet", "coconot": ".jsonl"}
MIME = {"csv": "text/csv", "jsonl": "application/jsonl", "parquet": "application/vnd.apache.parquet",
        "coconot": "application/jsonl"}
UNCATEGORISED = "uncategorised"  # CoCoNot rows always have a category
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_BASE = ["dataset", "split", "source_id", "category", "subcategory", "expected", "categories", "prompt",
         "metadata", "prompt_id", "response_id", "model", "response", "origin", "settings"]


def neutralise(value):
    """A CSV cell a spreadsheet shows as text: formula-looking text gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _clean(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts with None for missing values (JSON has no NaN)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _by_response(frame: pd.DataFrame) -> dict[int, list[dict]]:
    grouped: dict[int, list[dict]] = {}
    for row in _clean(frame):
        grouped.setdefault(int(row.pop("response_id")), []).append(row)
    return grouped


def _columns_per(frame: pd.DataFrame, who: str, values: dict[str, str]) -> pd.DataFrame:
    """One column per (value, person) pair, e.g. ``verdict:rules`` and ``rationale:rules`` side by
    side for each judge (``values`` maps the frame's column to its prefix in the export)."""
    table = frame.pivot(index="response_id", columns=who, values=list(values))
    table.columns = [f"{values[kind]}:{name}" for kind, name in table.columns]
    return table[[f"{prefix}:{name}" for name in sorted(frame[who].unique()) for prefix in values.values()]]


def wide_frame(db: sqlite_utils.Database, selection: Selection = Selection()) -> pd.DataFrame:
    rows = frames.rows_frame(db, selection)
    rows["response_id"] = rows["response_id"].astype("Int64")
    wide = rows[_BASE]
    verdicts = frames.verdicts_frame(db, selection)
    if not verdicts.empty:
        wide = wide.join(_columns_per(verdicts, "judge", {"label": "verdict", "rationale": "rationale"}),
                         on="response_id")
    labels = frames.labels_frame(db, selection=selection)
    if not labels.empty:
        wide = wide.join(_columns_per(labels, "annotator", {"label": "label", "note": "note"}), on="response_id")
    finals = adjudication.finals_frame(db, selection)
    if not finals.empty:
        wide = wide.join(finals.set_index("response_id")[["label", "adjudicator"]]
                         .rename(columns={"label": "final_label", "adjudicator": "final_by"}), on="response_id")
    tags = discussion.tags_frame(db, selection)
    if not tags.empty:
        wide = wide.join(tags.groupby("response_id")["tag"].agg(",".join).rename("tags"), on="response_id")
    return wide


def history_frame(db: sqlite_utils.Database, selection: Selection = Selection()) -> pd.DataFrame:
    """Every label row ever written, with the prompt and model it belongs to."""
    rows = frames.rows_frame(db, selection).dropna(subset=["response_id"])
    rows = rows.astype({"response_id": int})[["response_id", "dataset", "source_id", "model"]]
    return frames.labels_frame(db, history=True, selection=selection).merge(rows, on="response_id", how="left")


def records(db: sqlite_utils.Database, history: bool = False, selection: Selection = Selection()):
    """The JSONL export, one dict per response (or prompt without one)."""
    verdicts = _by_response(frames.verdicts_frame(db, selection)[["response_id", "judge", "judge_kind", "label",
                                                                  "rationale"]])
    labels = _by_response(frames.labels_frame(db, selection=selection)[["response_id", "annotator", "label", "note",
                                                                         "created_at"]])
    past = _by_response(frames.labels_frame(db, history=True, selection=selection)) if history else {}
    tags = _by_response(discussion.tags_frame(db, selection)[["response_id", "tag", "author"]])
    comments = _by_response(discussion.comments_frame(db, selection))
    finals = {rid: rows[0] for rid, rows in _by_response(adjudication.finals_frame(db, selection)).items()}
    for row in _clean(frames.rows_frame(db, selection)):
        rid = row["response_id"]
        record = dict(
            dataset=row["dataset"], split=row["split"], id=row["source_id"], category=row["category"],
            subcategory=row["subcategory"], expected=row["expected"],
            categories=row["categories"].split(",") if row["categories"] else [],
            prompt=row["prompt"], metadata=json.loads(row["metadata"] or "{}"),
            model=row["model"], response=row["response"],
            settings=json.loads(row["settings"]) if row["settings"] else None,
            verdicts=verdicts.get(rid, []) if rid is not None else [],
            labels=labels.get(rid, []) if rid is not None else [],
            tags=tags.get(rid, []) if rid is not None else [],
            comments=comments.get(rid, []) if rid is not None else [],
            final=finals.get(rid) if rid is not None else None,
        )
        if history:
            record["history"] = past.get(rid, []) if rid is not None else []
        yield record


def coconot_records(db: sqlite_utils.Database, selection: Selection = Selection()):
    paths = frames.category_paths(db)
    verdicts = _by_response(frames.verdicts_frame(db, selection))
    labels = _by_response(frames.labels_frame(db, selection=selection))
    for row in _clean(frames.rows_frame(db, selection)):
        rid = row["response_id"]
        own = [paths[name] for name in (row["categories"] or "").split(",") if name in paths]
        common = dict(prompt=row["prompt"], response=row["response"] or "", model=row["model"],
                      dataset=row["dataset"], expected=row["expected"],
                      labels={a["annotator"]: a["label"] for a in labels.get(rid, [])} if rid is not None else {},
                      verdicts={v["judge"]: v["label"] for v in verdicts.get(rid, [])} if rid is not None else {})
        for category, subcategory in own or [(row["category"] or UNCATEGORISED, row["subcategory"])]:
            yield dict(id=row["source_id"], category=category, subcategory=subcategory, **common)


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV, header and every cell formula-safe (``neutralise``)."""
    frame = frame.rename(columns=neutralise).map(neutralise)  # every cell: text columns may be "str", not object
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def render(db: sqlite_utils.Database, fmt: str, history: bool = False,
           selection: Selection = Selection()) -> dict[str, bytes]:
    """The export as {file-name suffix: bytes}: ``""`` is the main file, ``".history"`` the label
    history that CSV and Parquet keep in a file of their own."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "jsonl":
        return {"": _jsonl(records(db, history, selection))}
    if fmt == "coconot":
        if history:
            raise UserError("the CoCoNot-style export has no label history; use --format jsonl --history")
        return {"": _jsonl(coconot_records(db, selection))}
    write = csv_bytes if fmt == "csv" else _parquet
    files = {"": write(wide_frame(db, selection))}
    if history:
        files[".history"] = write(history_frame(db, selection))
    return files


def infer_format(out: str | Path) -> str:
    """The format a file name asks for: ``.csv``, ``.jsonl`` (or ``.json``), ``.parquet``. CoCoNot's
    style is JSONL too, so it is never guessed."""
    found = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}.get(Path(out).suffix.lower())
    if found is None:
        raise UserError(f"{out}: cannot tell the export format from the file name; end it in .csv, .jsonl or "
                        ".parquet, or give --format (csv, jsonl, parquet, coconot)")
    return found


def file_name(base: str | Path, fmt: str, part: str) -> Path:
    """``out.csv`` + ``.history`` -> ``out.history.csv``; the format's suffix is added when missing."""
    base = Path(base)
    stem = base.stem if base.suffix else base.name
    return base.with_name(stem + part + (base.suffix or SUFFIX[fmt]))


def write(db: sqlite_utils.Database, fmt: str | None, out, history: bool = False,
          selection: Selection = Selection()) -> list[Path]:
    """Write the export of ``selection`` to ``out`` (and ``<out>.history.<ext>`` for CSV/Parquet
    history); ``fmt`` None takes it from the file name. Returns the paths."""
    fmt = fmt or infer_format(out)
    written = []
    for part, data in render(db, fmt, history, selection).items():
        path = file_name(out, fmt, part)
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise UserError(f"{path}: cannot write the export ({exc.strerror or exc})") from exc
        written.append(path)
    return written
