"""A small OpenAI-compatible server for tests and benches on 127.0.0.1: POST /v1/chat/completions, and
the Batch API's /v1/files (upload, content) and /v1/batches (create, retrieve, list, cancel).

Scripted behaviour: a fixed latency (from the request's first byte to the answer); per-request faults chosen by ``faults(body, n)`` returning
None (answer), an HTTP status (429, 500, 401...), a (status, message) pair (a real server's refusal, e.g.
llama.cpp's 500 for json_schema) or "hang" (never answers until the server stops); answers from
``answer(body)``: text for a normal completion, or ``Raw(payload)`` sent verbatim as the 200 body (``{}``,
``null``, odd shapes). Every request is recorded (body, time) so tests can count calls per item.

A batch answers its lines with the same ``answer`` and ``faults`` (a fault's status becomes that line's
status) and completes ``batch_seconds`` after it was created; until then it is in progress, its
request counts growing with the time elapsed; cancelled, it keeps the lines done by then.
``refuse_batch(lines)`` can fail a whole batch (as a provider does a requests file it finds invalid).
``uploads`` and ``batch_creates`` count what a client paid for.
Run as a script (``python tests/fake_openai.py --latency 0.05``) it prints ``PORT <n>`` and serves
until killed, so a bench can keep the server's work out of the measured process.

It is one asyncio loop in one thread (waiting out the latency is a timer, not a thread per connection)
with a minimal HTTP/1.1 keep-alive parser: on a 2-core machine the server's own CPU would otherwise be
taken from the client being measured.
"""

import argparse
import asyncio
import hashlib
import http
import json
import re
import socket
import ssl
import sys
import threading
import time

DEFAULT_ANSWER = '{"rationale": "fake judge", "label": "full_compliance"}'


class Raw:
    """An answer sent verbatim as the 200 body, whatever its shape."""

    def __init__(self, payload):
        self.payload = payload


class FakeOpenAI:
    def __init__(self, latency: float = 0.0, answer=None, faults=None, ssl_context=None, batch_seconds: float = 0.0,
                 refuse_batch=None):
        self.latency = latency
        self.batch_seconds = batch_seconds
        self.refuse_batch = refuse_batch  # refuse_batch(lines) -> a reason the whole batch fails, or None
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.uploads: list[str] = []  # file ids, in upload order
        self.batch_creates: list[str] = []  # batch ids, in creation order
        self.ssl_context = ssl_context  # serve HTTPS with this server-side context
        self.answer = answer or (lambda body: DEFAULT_ANSWER)
        self.faults = faults or (lambda body, n: None)
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests it was answering at once
        self.lock = threading.Lock()
        # Bound now, so the url is known before start(); a deep backlog: 32 clients connect at once.
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port = self.socket.getsockname()[1]  # kept: the url is still asked for after stop()
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()  # set on stop: hanging requests end, the loop exits
        self.connections: set[asyncio.Task] = set()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),), daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/v1"

    def start(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stopping.set)
            self.thread.join()
        self.socket.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def contents(self) -> list[str]:
        """The last message's text of every request seen, in arrival order."""
        with self.lock:
            return [r["body"]["messages"][-1]["content"] for r in self.requests]

    async def _serve(self):
        server = await asyncio.start_server(self._connection, sock=self.socket, ssl=self.ssl_context)
        await self.stopping.wait()
        server.close()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)

    async def _connection(self, reader, writer):
        self.connections.add(asyncio.current_task())
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, ssl.SSLError):
            pass
        except asyncio.CancelledError:  # the server stopping: the connection simply ends
            pass
        finally:
            self.connections.discard(asyncio.current_task())
            writer.close()

    async def _one_request(self, reader, writer) -> bool:
        """Read and answer one request; False when the connection should close."""
        line = await reader.readline()
        if not line.strip():
            return False
        arrived = time.monotonic()  # the latency counts from here: parsing is part of the answer time
        method, path, _version = line.decode("latin-1").split(" ", 2)
        headers = {}
        while (header := await reader.readline()).strip():
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length") or 0))
        if "/files" in path or "/batches" in path:
            with self.lock:  # computed under the lock, sent after it: a lock held across an await stalls the loop
                status, payload = self._batch_api(method, path, headers, raw)
            if isinstance(payload, bytes):
                return await self._send_bytes(writer, payload)
            return await self._send(writer, status, payload)
        if method != "POST":
            return await self._send(writer, 405, {"error": {"message": f"{method} not allowed"}})
        body = json.loads(raw or b"{}")
        with self.lock:
            self.requests.append({"body": body, "time": arrived, "path": path})
            n = len(self.requests)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(writer, path, body, n, arrived) and headers.get("connection") != "close"
        finally:
            with self.lock:
                self.in_flight -= 1

    async def _answer(self, writer, path, body, n, arrived: float) -> bool:
        if not path.rstrip("/").endswith("/chat/completions"):
            return await self._send(writer, 404, {"error": {"message": f"no route {path}"}})
        fault = self.faults(body, n)
        if fault == "hang":
            await self.stopping.wait()
            return False
        if self.latency:
            await asyncio.sleep(max(0.0, arrived + self.latency - time.monotonic()))
        status, payload = self._completion(body, n, fault)
        return await self._send(writer, status, payload, {"retry-after": "0"} if status == 429 else {})

    def _completion(self, body, n, fault) -> tuple[int, object]:
        """(status, JSON payload) of one chat completion, live or in a batch."""
        if isinstance(fault, tuple):
            return fault[0], {"error": {"message": fault[1], "type": "fake"}}
        if isinstance(fault, int):
            return fault, {"error": {"message": f"injected {fault}", "type": "fake"}}
        text = self.answer(body)
        if isinstance(text, Raw):
            return 200, text.payload
        prompt_chars = sum(len(str(m.get("content") or "")) for m in body.get("messages", []))
        return 200, {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt_chars // 4 + 1, "completion_tokens": len(text) // 4 + 1,
                      "total_tokens": prompt_chars // 4 + len(text) // 4 + 2},
        }

    # -- the Batch API -----------------------------------------------------------------------------

    def _batch_api(self, method, path, headers, raw) -> tuple[int, object]:
        """(status, JSON payload, or bytes for a file's content) of a /v1/files or /v1/batches call."""
        route = path.split("?", 1)[0].rstrip("/").split("/v1/", 1)[-1].split("/")
        if route == ["files"] and method == "POST":
            return 200, self._upload(headers, raw)
        if len(route) == 3 and route[0] == "files" and route[2] == "content" and route[1] in self.files:
            return 200, self.files[route[1]]
        if route == ["batches"] and method == "POST":
            return 200, self._create_batch(json.loads(raw))
        if route == ["batches"] and method == "GET":
            listed = [self._batch_view(b) for b in reversed(list(self.batches.values()))]
            return 200, {"object": "list", "data": listed, "has_more": False,
                         "first_id": listed[0]["id"] if listed else None, "last_id": listed[-1]["id"] if listed else None}
        if len(route) >= 2 and route[0] == "batches" and route[1] in self.batches:
            batch = self.batches[route[1]]
            if len(route) == 3 and route[2] == "cancel" and method == "POST":
                batch["cancelled_at"] = batch["cancelled_at"] or time.monotonic()
            return 200, self._batch_view(batch)
        return 404, {"error": {"message": f"no route {method} {path}"}}

    def _upload(self, headers, raw) -> dict:
        """A multipart/form-data upload (what the openai client sends): the 'file' part is kept."""
        import email.parser
        import email.policy

        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"content-type: " + headers["content-type"].encode("latin-1") + b"\r\n\r\n" + raw)
        parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        data = parts["file"].get_payload(decode=True)
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = data
        self.uploads.append(file_id)
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": parts["file"].get_filename() or "upload.jsonl", "purpose": "batch", "status": "processed"}

    def _create_batch(self, request) -> dict:
        lines = [json.loads(line) for line in self.files[request["input_file_id"]].splitlines() if line.strip()]
        batch_id = f"batch_{len(self.batches) + 1}"
        invalid = self.refuse_batch(lines) if self.refuse_batch else None
        self.batches[batch_id] = {"id": batch_id, "input_file_id": request["input_file_id"], "lines": lines,
                                  "invalid": invalid,
                                  "created": time.monotonic(), "created_at": int(time.time()),
                                  "endpoint": request["endpoint"], "cancelled_at": None, "output": None}
        self.batch_creates.append(batch_id)
        return self._batch_view(self.batches[batch_id])

    def _batch_view(self, batch) -> dict:
        """The batch as the API shows it now; its files are written when it ends."""
        total = len(batch["lines"])
        end = batch["cancelled_at"] or batch["created"] + self.batch_seconds
        elapsed = min(time.monotonic(), end) - batch["created"]
        finished = time.monotonic() >= end
        done = total if not self.batch_seconds or (finished and not batch["cancelled_at"]) else \
            min(total, int(total * elapsed / self.batch_seconds))
        status = ("cancelled" if batch["cancelled_at"] else "completed") if finished else "in_progress"
        if batch["invalid"]:  # a requests file the provider refuses fails as a whole, answering nothing
            return {**self._batch_stub(batch), "status": "failed", "request_counts": {"total": 0, "completed": 0,
                                                                                       "failed": 0},
                    "errors": {"object": "list", "data": [{"code": "invalid_request", "message": batch["invalid"],
                                                           "line": 1}]}}
        view = {**self._batch_stub(batch), "status": status,
                "request_counts": {"total": total, "completed": done, "failed": 0}}
        if finished:
            if batch["output"] is None:
                batch["output"] = self._run_lines(batch["lines"][:done])
            view["output_file_id"], view["error_file_id"], failed = batch["output"]
            view["request_counts"].update(completed=done - failed, failed=failed)
        return view

    @staticmethod
    def _batch_stub(batch) -> dict:
        return {"id": batch["id"], "object": "batch", "endpoint": batch["endpoint"], "errors": None,
                "input_file_id": batch["input_file_id"], "completion_window": "24h", "output_file_id": None,
                "error_file_id": None, "created_at": batch["created_at"]}

    def _run_lines(self, lines) -> tuple[str, str | None, int]:
        """Answer a batch's lines: (output file id, error file id, lines that failed)."""
        output, errors = [], []
        for i, line in enumerate(lines):
            self.requests.append({"body": line["body"], "time": time.monotonic(), "path": "batch"})
            status, payload = self._completion(line["body"], len(self.requests), self.faults(line["body"], i + 1))
            result = {"id": f"batch_req_{i}", "custom_id": line["custom_id"],
                      "response": {"status_code": status, "request_id": f"req_{i}", "body": payload}, "error": None}
            (output if status == 200 else errors).append(json.dumps(result))
        output_id, error_id = f"file-{len(self.files) + 1}", None
        self.files[output_id] = ("\n".join(output) + "\n").encode()
        if errors:
            error_id = f"file-{len(self.files) + 1}"
            self.files[error_id] = ("\n".join(errors) + "\n").encode()
        return output_id, error_id, len(errors)

    @staticmethod
    async def _send_bytes(writer, data: bytes) -> bool:
        writer.write((f"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
                      f"content-length: {len(data)}\r\n\r\n").encode("latin-1") + data)
        await writer.drain()
        return True

    @staticmethod
    async def _send(writer, status, payload, headers=None) -> bool:
        data = json.dumps(payload).encode()
        lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}", "content-type: application/json",
                 f"content-length: {len(data)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)  # one write: no Nagle delay
        await writer.drain()
        return True


class OrBenchAnswers:
    """Answers like a model following OR-Bench's pipeline (``FakeOpenAI(answer=OrBenchAnswers())``),
    recognised by the request's template, in the formats OR-Bench's scripts read:

    - seed requests ("Generate N <category> prompts ..."): N new prompts per call, like sampling at
      temperature 1 (every call of the same request is answered with prompts never given before),
      in [[...]], «...» or numbered lines in turn, plus one near-duplicate (case and punctuation) of
      the call's first prompt, which the builder must drop;
    - rewrite requests: N rewrites of the seed, each "[[k. ...]]" on a line;
    - moderation requests: a short explanation and a choice "[[N. name]]" that depends on the
      moderator (the model) and the prompt, so moderators disagree now and then; one in
      ``unreadable`` answers has no choice at all;
    - anything else (a model answering a prompt): a refusal or an answer, fixed per model and prompt.
    """

    FORMATS = ("brackets", "guillemets", "numbered")

    def __init__(self, unreadable: int = 25):
        self.unreadable = unreadable
        self.calls = 0
        self.lock = threading.Lock()

    @staticmethod
    def digest(*parts) -> int:
        return int(hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:8], 16)

    def __call__(self, body) -> str:
        text = body["messages"][-1]["content"]
        with self.lock:
            self.calls += 1
            call = self.calls
        if (found := re.match(r"Generate (\d+) (.+?) prompts that cause", text)):
            return self.seeds(int(found.group(1)), found.group(2), call)
        if (found := re.search(r"rewrite a harmful prompt into (\d+) new prompts", text)):
            seed = text.rsplit("[original harmful prompt]\n", 1)[1].split("\n\n[rewritten prompt]")[0].strip()
            return self.rewrites(int(found.group(1)), seed)
        if text.startswith("Determine whether the user input texts"):
            prompt = text.split("[User Question]\n", 1)[1].rsplit("\n\n[Assistant Answer]", 1)[0].strip()
            return self.moderation(body.get("model", ""), prompt)
        refuses = self.digest(body.get("model", ""), text) % 3 == 0
        return "I'm sorry, but I can't help with that request." if refuses else f"Sure. Here is an answer: {text[:40]}"

    def seeds(self, n: int, category: str, call: int) -> str:
        prompts = [f"How could someone exploit {category} in scheme {call}-{i} without being noticed?"
                   for i in range(n)]
        prompts.append(prompts[0].upper().replace("?", " ?!"))  # a near-duplicate
        style = self.FORMATS[call % 3]
        if style == "brackets":
            return "Here are the prompts:\n" + "\n".join(f"[[{p}]]" for p in prompts)
        if style == "guillemets":
            return "\n".join(f"- «{p}»" for p in prompts)
        return "Sure:\n" + "\n".join(f"{i}. {p}" for i, p in enumerate(prompts, start=1))

    @staticmethod
    def rewrites(n: int, seed: str) -> str:
        return "\n".join(f"[[{k}. Version {k} of a careful question about: {seed}]]" for k in range(1, n + 1))

    def moderation(self, model: str, prompt: str) -> str:
        roll = self.digest(model, prompt) % 100
        shared = self.digest(prompt) % 100  # what the moderators mostly agree on
        if self.unreadable and roll % self.unreadable == 0:
            return "This prompt is hard to place; I would rather not choose."
        toxic = shared < 40 if roll >= 15 else shared >= 40  # each moderator deviates on ~15% of prompts
        if not toxic:
            return "The user asks for understanding only.\n[[11. None of the above]]"
        number = 1 + shared % 10
        names = ("hate", "self-harm", "sexual", "violence", "harassment", "harmful", "illegal", "unethical",
                 "privacy", "deception")
        return f"The user intends to act on it.\n[[{number}. {names[number - 1]}]]"


def item_of(body) -> int | None:
    """The item number a test wrote into a prompt or response as ``item-<n>``."""
    found = re.search(r"item-(\d+)", body["messages"][-1]["content"])
    return int(found.group(1)) if found else None


def seed(db, n: int, dataset: str = "fake-set", model: str = "model-a", start: int = 0) -> list[int]:
    """``n`` prompts with one response each, every text marked ``item-<i>`` (i from ``start``);
    returns response ids."""
    from store import writes

    numbers = range(start, start + n)
    ids = writes.add_prompts(db, [dict(dataset=dataset, source_id=str(i), text=f"prompt item-{i}",
                                       category="Incomplete requests", subcategory="underspecified")
                                  for i in numbers])
    return writes.add_responses(db, [dict(prompt_id=ids[(dataset, str(i))], model=model,
                                          text=f"response to item-{i}") for i in numbers])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeOpenAI(latency=args.latency).start()
    print(f"PORT {server.socket.getsockname()[1]}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
