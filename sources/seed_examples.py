"""Example prompts that show a seed step the kind of prompt to write (``prompts seed --examples``).

Read, in this order of recognition:
- CoCoNot's ``original_seed_prompts.json``: a list of ``{category, subcategories: [{subcategory,
  prompts: [[text], ...]}]}``; the examples are those of the category or subcategory named like
  ``--category`` (case-insensitive);
- CoCoNot's ``safety_contrast_seed_prompts.json``: ``{subcategory: {prompts, contrast_prompts}}``;
  the examples are the subcategory's ``prompts`` (the ones a model should decline);
- any other JSON list of strings, a CSV with a ``prompt`` column, or a text file with one prompt a
  line: every prompt in it.
A file that names categories but not the one asked for is an error that lists the ones it has.
"""

import json
from pathlib import Path

from sources.errors import SourceError
from sources.readers import optional, read_table, read_text, require_columns

MAX_EXAMPLE_CHARS = 2000  # one example; a seed request is not the place for a document


def _texts(path, values) -> list[str]:
    out = []
    for value in values:
        text = value[0] if isinstance(value, list) and value else value
        if not isinstance(text, str):
            raise SourceError(path, f"expected prompt text, got {type(text).__name__}")
        if text.strip():
            out.append(text.strip()[:MAX_EXAMPLE_CHARS])
    return out


def _by_category(data) -> dict[str, list] | None:
    """{category or subcategory name (lower case): prompts} for CoCoNot's two seed files, else None."""
    if isinstance(data, list) and data and all(isinstance(e, dict) and "subcategories" in e for e in data):
        found: dict[str, list] = {}
        for entry in data:
            for sub in entry.get("subcategories") or []:
                prompts = sub.get("prompts") or []
                found.setdefault(str(entry.get("category", "")).lower(), []).extend(prompts)
                found.setdefault(str(sub.get("subcategory", "")).lower(), []).extend(prompts)
        return found
    if isinstance(data, dict) and data and all(isinstance(v, dict) and "prompts" in v for v in data.values()):
        return {str(k).lower(): v["prompts"] for k, v in data.items()}
    return None


def read_examples(path, category: str) -> tuple[str, ...]:
    """The example prompts in ``path`` for ``category`` (see the module docstring)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(read_text(path))
        except json.JSONDecodeError as exc:
            raise SourceError(path, f"broken JSON ({exc.msg})", line=exc.lineno) from exc
        grouped = _by_category(data)
        if grouped is not None:
            key = category.strip().lower()
            if key not in grouped:
                raise SourceError(path, f"no examples for category {category!r}; the file has: "
                                  f"{', '.join(sorted(k for k in grouped if k))}")
            examples = _texts(path, grouped[key])
        elif isinstance(data, list):
            examples = _texts(path, data)
        else:
            raise SourceError(path, "expected CoCoNot's seed prompts or a JSON list of prompts")
    elif suffix in (".csv", ".tsv", ".jsonl", ".parquet"):
        columns, rows = read_table(path)
        require_columns(path, columns, ("prompt",))
        examples = _texts(path, [optional(row, "prompt") or "" for _, row in rows])
    else:
        examples = _texts(path, read_text(path).splitlines())
    if not examples:
        raise SourceError(path, "holds no example prompts")
    return tuple(dict.fromkeys(examples))
