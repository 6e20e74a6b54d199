"""Reading JSONL, CSV, TSV and Parquet into plain row dicts, each with the line number users will
look for in their editor. Files are read as a stream, a line (or a Parquet batch) at a time, so
memory does not grow with the file; an importer stages what it reads (sources.batch) and writes
nothing until the whole file has passed, so a bad row anywhere leaves the database untouched.

Hostile files end in a SourceError, never a traceback: invalid UTF-8, NUL characters (refused,
because text with a NUL is never a prompt or a response and SQLite tools cut text there), lone
surrogates, JSON nested too deeply or with a number too long to convert, a line over
MAX_LINE_BYTES, a CSV row with too many or too few cells, a header naming a column twice.
"""

import csv
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

from sources.errors import SourceError

csv.field_size_limit(2**31 - 1)  # real completions can be long; only MAX_LINE_BYTES bounds a line
MAX_LINE_BYTES = 64 * 2**20  # one JSONL line or CSV line; a longer one is not a row anyone wrote
PARQUET_BATCH_ROWS = 10_000
# Only these escapes can make json.loads return a NUL or a lone surrogate (raw NUL bytes and
# invalid UTF-8 are refused before parsing), so rows without them skip the per-string walk.
_SUSPECT_ESCAPE = re.compile(r"\\u(0000|d[89a-f])", re.IGNORECASE)


def _lines(path) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line of a UTF-8 file (BOM allowed), split on "\\n" only: U+2028,
    U+2029 and U+0085 are characters inside a line, as JSON and CSV say, not line breaks. The text
    keeps its line ending, which CSV needs for cells spanning lines."""
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise SourceError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    with f:
        number = 0
        while raw := f.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise SourceError(path, f"line longer than {MAX_LINE_BYTES // 2**20} MB", line=number)
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise SourceError(path, f"not valid UTF-8 (byte {exc.start + 1} of the line); save the file "
                                  "as UTF-8", line=number) from exc
            if "\x00" in text:
                raise SourceError(path, "contains a NUL byte; this is not a text file", line=number)
            yield number, text


def read_text(path) -> str:
    """A whole file as text, for formats that are one document (a promptfoo results file): the
    same checks as a streamed file, with the line of what is wrong; never empty."""
    text = "".join(line for _, line in _lines(path))
    if not text.strip():
        raise SourceError(path, "the file is empty")
    return text


def read_jsonl(path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line."""
    seen = False
    for number, line in _lines(path):
        if not line.strip():
            continue
        seen = True
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(path, f"broken JSON ({exc.msg} at column {exc.colno})", line=number) from exc
        except RecursionError as exc:
            raise SourceError(path, "JSON nested too deeply to read", line=number) from exc
        except ValueError as exc:  # Python refuses to convert integers of more than 4,300 digits
            raise SourceError(path, f"unreadable JSON ({exc})", line=number) from exc
        if not isinstance(row, dict):
            raise SourceError(path, f"expected a JSON object, got {type(row).__name__}", line=number)
        if _SUSPECT_ESCAPE.search(line):
            check_text(path, number, row)
        yield number, row
    if not seen:
        raise SourceError(path, "the file is empty")


def check_text(path, line: int, row: dict) -> None:
    """Every string in ``row`` (nested ones too, walked without recursion) is storable text: no NUL
    character, no lone surrogate. The error names the field, e.g. ``verdicts[0].rationale``."""
    stack = [(str(k), v) for k, v in row.items()]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, str):
            if "\x00" in value:
                raise SourceError(path, "contains a NUL character (U+0000); remove it", line=line, field=where)
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise SourceError(path, f"contains a lone surrogate ({value[exc.start]!r}), which is not text",
                                  line=line, field=where) from exc


def read_csv(path, delimiter: str = ",") -> Iterator[tuple[int, dict]]:
    """(line the row starts on, header = 1, row) for each data row.

    The start line, not the end, because cells may span lines (model completions do) and the
    start is where a user looks. Strict quoting, so a quote left open is an error on its row
    instead of silently swallowing the rest of the file into one cell; a row must have exactly
    the header's cells, so a short row is an error naming the first missing column rather than
    empty text.
    """
    reader = csv.reader((text for _, text in _lines(path)), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise SourceError(path, f"broken header ({exc})", line=1) from exc
    if header is None:
        raise SourceError(path, "the file is empty")
    if not any(name.strip() for name in header):
        raise SourceError(path, "no header row", line=1)
    seen = set()
    for name in header:
        if name in seen:
            raise SourceError(path, "the header names this column twice", line=1, field=name)
        seen.add(name)
    start = reader.line_num + 1
    try:
        for cells in reader:
            if cells and len(cells) != len(header):
                if len(cells) > len(header):
                    raise SourceError(path, f"{len(cells)} cells but {len(header)} columns in the header", line=start)
                raise SourceError(path, f"missing: the row has {len(cells)} cells but the header has "
                                  f"{len(header)} columns", line=start, field=header[len(cells)])
            if cells:
                yield start, dict(zip(header, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SourceError(path, f"broken CSV ({exc}); check the quotes of the row starting here",
                          line=start) from exc


def read_parquet(path) -> Iterator[tuple[int, dict]]:
    """(row number from 1, row) for each row, read a batch at a time. Columns of lists, maps,
    structs or binary data are refused by name: every importer reads text and numbers, and
    turning a list into its printed form would import text nobody wrote."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        schema = file.schema_arrow
    except Exception as exc:  # pyarrow raises many types for a bad file; all mean "not parquet"
        raise SourceError(path, f"not a readable Parquet file ({exc})") from exc
    seen = set()
    for column in schema:
        if column.name in seen:
            raise SourceError(path, "the file names this column twice", field=column.name)
        seen.add(column.name)
        kind = column.type
        if pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind) \
                or pa.types.is_fixed_size_binary(kind):
            raise SourceError(path, f"a column of {kind}; the importers read text and numbers only "
                              "(convert or drop the column)", field=column.name)
    number = 0
    try:
        for batch in file.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for row in batch.to_pylist():
                number += 1
                row = {k: (None if _missing(v) else v) for k, v in row.items()}
                if any(isinstance(v, str) and "\x00" in v for v in row.values()):
                    check_text(path, number, row)
                yield number, row
    except (OSError, pa.ArrowException) as exc:
        raise SourceError(path, f"not a readable Parquet file ({exc})", line=number + 1) from exc
    if number == 0:
        raise SourceError(path, "the file has no rows")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # NaN


def read_rows(path) -> Iterator[tuple[int, dict]]:
    """Rows of a JSONL, CSV, TSV or Parquet file, chosen by extension."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return read_jsonl(path)
    if suffix in (".csv", ".tsv"):
        return read_csv(path, delimiter="\t" if suffix == ".tsv" else ",")
    if suffix == ".parquet":
        return read_parquet(path)
    raise SourceError(path, f"unknown file type '{suffix}'; expected .jsonl, .csv, .tsv or .parquet")


def read_table(path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """The columns (a CSV's header, else the first row's keys) and all rows of a CSV, JSONL or
    Parquet file, so an importer can tell what kind of file it has and fail on a missing column
    before it reads any row."""
    rows = read_rows(path)
    first = next(rows, None)
    if first is None:
        raise SourceError(path, "has a header but no data rows")
    return list(first[1]), itertools.chain([first], rows)


def require(path, line: int, row: dict, field: str, allow_empty: bool = False) -> str:
    """The field's value as text, or a SourceError naming the file, line and field."""
    if field not in row:
        raise SourceError(path, "missing required field", line=line, field=field)
    value = row[field]
    if value is None or (isinstance(value, str) and not value.strip() and not allow_empty):
        if allow_empty:
            return ""
        raise SourceError(path, "empty value", line=line, field=field)
    if isinstance(value, (dict, list)):
        raise SourceError(path, f"expected text, got {type(value).__name__}", line=line, field=field)
    return str(value)


def optional(row: dict, field: str) -> str | None:
    value = row.get(field)
    if value is None or isinstance(value, (dict, list)):
        return None
    value = str(value)
    return value if value.strip() else None


def require_columns(path, columns, needed) -> None:
    """Fail on the header, before reading rows, when a required column is missing."""
    missing = [c for c in needed if c not in columns]
    if missing:
        raise SourceError(path, f"missing required column (has: {', '.join(map(str, columns))})", line=1,
                          field=missing[0])
