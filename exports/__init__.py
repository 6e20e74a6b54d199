"""Writers of files that leave the app (CSV, JSONL, Parquet, CoCoNot-style JSONL): the mirror of
``sources/``, which reads files in. They read through ``store`` and never write to the database."""
