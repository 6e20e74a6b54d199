"""A run started from the app, on its own thread, so the page can rerun, show progress and cancel.

Streamlit reruns the page script on every interaction; a run started inside the script would block
it (no Cancel button) and die with it. Here the run gets its own thread and its own database
connection (connections never cross threads); the page only reads ``progress`` and sets ``cancel``.
"""

import threading

import store


class BackgroundRun:
    def __init__(self, db_path: str, label: str, work):
        """``work(db, on_progress, cancel) -> (run id, Progress)``, called on a new thread."""
        self.label = label
        self.cancel = threading.Event()
        self.progress = None
        self.run_id = None
        self.error: Exception | None = None  # a UserError to show, or a bug
        self._work, self._db_path = work, db_path
        self._thread = threading.Thread(target=self._main, name=f"run: {label}", daemon=True)
        self._thread.start()

    def _main(self):
        try:
            db = store.connect(self._db_path)
            self.run_id, self.progress = self._work(db, self._on_progress, self.cancel)
        except Exception as exc:  # noqa: BLE001 - handed to the page, which has no other way to learn it
            self.error = exc

    def _on_progress(self, progress):
        self.progress = progress

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self.running
