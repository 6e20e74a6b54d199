"""The only package that speaks SQL. Import from here: ``from store import connect, writes, reads``."""

from store import reads, writes
from store.connection import (
           StoreError,
           connect,
           default_path,
           readonly_mode,
           schema_version,
           write_transaction,
)
from store.staging import import_group

__all__ = ["StoreError", "connect", "default_path", "readonly_mode", "import_group", "reads", "schema_version",
           "writes", "write_transaction"]
