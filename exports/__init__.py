"""Writers of files that leave the app (CSV, JSONL, Parquet, CoCoNot-style JSONL, a Hugging Face dataset
folder, inspect_ai logs with human labels as score edits): the mirror of ``sources/``, which reads files
in. They read through ``store`` and never write to the database; an eval tool's format is read with the
importer's own reader (``sources.inspect_log``), so reading and writing it agree."""
