"""inspect_ai eval logs (``.eval`` archives, ``.json`` logs, or a folder of them), read through
inspect_ai's own reader: the ``.eval`` format is a zip whose members may be zstd-compressed and
changes between versions, so reading it by hand would break where inspect_ai does not.

One log is one task run by one model:
- each sample's input is a prompt (id = the sample's id), in dataset ``inspect:<task>`` unless
  ``--dataset`` names another; a CoCoNot task's samples carry CoCoNot's own ids, so they land in
  ``coconot-original`` / ``coconot-contrast`` and meet the benchmark's prompts. Metadata gives the
  category (``category``, or XSTest's ``type``) and subcategory; the target, or XSTest's
  ``label`` (safe/unsafe), gives the expected behaviour when it is one (``labels.expected_from``).
- each sample's output is a response of the eval's model; every epoch is read, so epochs with
  different outputs are separate responses (identical outputs are one response, as everywhere in
  the store: a response is a prompt, a model and a text).
- each score is a verdict of the judge ``inspect:<task>/<scorer>`` (plus the grader model when the
  scorer names one: two graders are two judges), its explanation the rationale, its value read in
  the task's vocabulary (XSTest tasks: C/P/I; CoCoNot tasks: ACCEPTABLE/UNACCEPTABLE/COMPLIANCE/
  NONCOMPLIANCE/NEITHER on the task's subset; any other task: our own label words) and otherwise
  ``unparsed`` with the raw value kept.

``exports/inspect_edits.py`` writes human labels back into such a log; it finds each sample's
response with ``response_key`` here, so reading and writing agree on which response is which.
"""

import json
import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

import labels
from sources.batch import Batch, ImportResult
from sources.errors import SourceError
from store import import_group

INSTALL = "pip install 'inspect-ai>=0.3.100'"
COCONOT_DATASETS = {"original": "coconot-original", "contrast": "coconot-contrast"}


def inspect_log_api(path):
    """inspect_ai.log, or a SourceError saying how to install it (it is an optional dependency)."""
    try:
        import inspect_ai.log
    except ImportError as exc:
        raise SourceError(path, f"reading inspect_ai logs needs the inspect_ai package: {INSTALL}") from exc
    return inspect_ai.log


@contextmanager
def reading(path):
    """Turn whatever inspect_ai raises on a bad file into one SourceError naming the file and,
    where the reader's underlying error says it, the line or field (inspect_ai wraps the JSON or
    schema error it met, so the cause chain is searched)."""
    try:
        yield
    except SourceError:
        raise
    except Exception as exc:  # zip, zstd, JSON, pydantic and OS errors all mean "not a log inspect_ai can read"
        for cause in _chain(exc):
            if isinstance(cause, json.JSONDecodeError):
                raise SourceError(path, f"broken JSON ({cause.msg})", line=cause.lineno) from exc
            errors = getattr(cause, "errors", None)
            if callable(errors) and type(cause).__name__ == "ValidationError":
                first = errors()[0]
                field = ".".join(str(part) for part in first.get("loc", ())) or None
                raise SourceError(path, f"not a valid inspect_ai log ({first.get('msg')})", field=field) from exc
        raise SourceError(path, f"not an inspect_ai log inspect_ai can read ({type(exc).__name__}: {exc})") from exc


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def log_files(path) -> list[Path]:
    """The logs a path names: itself, or every log inspect_ai itself lists in a folder, recursively
    (every ``.eval``, and ``.json`` files named as inspect names its logs, so a folder's other JSON
    files, such as inspect's own ``logs.json`` index, are not mistaken for logs)."""
    path = Path(path)
    if not path.is_dir():
        if not path.exists():
            raise SourceError(path, "no such file or folder")
        return [path]
    api = inspect_log_api(path)
    with reading(path):
        found = sorted(Path(_local(info.name)) for info in api.list_eval_logs(str(path.resolve()), recursive=True))
    if not found:
        raise SourceError(path, "no inspect_ai logs (.eval or .json) in this folder")
    return found


def _local(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri


@dataclass(frozen=True)
class Task:
    """What a log's task means for us: where its prompts go and how its scores read."""
    name: str
    model: str
    dataset: str
    vocabulary: str  # "xstest", "coconot", or "labels" (our own words)
    coconot_set: str = "original"

    def label_of(self, value) -> str | None:
        """A score value -> label, or None when it is not a word of this task's vocabulary."""
        if not isinstance(value, str):
            return None
        if self.vocabulary == "xstest":
            return labels.from_xstest_grade(value)
        if self.vocabulary == "coconot":
            return labels.from_coconot(value, self.coconot_set)
        return labels.normalise(value)

    def value_for(self, label: str) -> str:
        """The score value that says ``label`` in this task's vocabulary (for score edits)."""
        if self.vocabulary == "xstest":
            return labels.to_xstest_grade(label)
        if self.vocabulary == "coconot":
            return labels.to_coconot(label, self.coconot_set)
        return label


def task_of(spec, dataset: str | None = None) -> Task:
    """The Task of a log's ``eval`` spec; ``dataset`` overrides where its prompts go."""
    short = spec.task.rsplit("/", 1)[-1].lower()
    if "coconot" in short:
        subset = str((spec.task_args or {}).get("subset") or "original")
        if subset not in COCONOT_DATASETS:
            raise SourceError(spec.task, f"unknown CoCoNot subset {subset!r}; expected original or contrast",
                              field="eval.task_args.subset")
        return Task(spec.task, spec.model, dataset or COCONOT_DATASETS[subset], "coconot", subset)
    vocabulary = "xstest" if "xstest" in short else "labels"
    return Task(spec.task, spec.model, dataset or f"inspect:{spec.task}", vocabulary)


def judge_name(task: Task, scorer: str, grader: str | None = None) -> str:
    return f"inspect:{task.name}/{scorer}" + (f" ({grader})" if grader else "")


def graders(spec) -> dict[str, str]:
    """scorer name -> the grader model its options name (model-graded scorers), where given."""
    found = {}
    for scorer in spec.scorers or []:
        model = (scorer.options or {}).get("model")
        if isinstance(model, dict):
            model = model.get("model")
        if isinstance(model, list):  # several graders in one scorer: name them all
            model = ", ".join(str(m.get("model") if isinstance(m, dict) else m) for m in model)
        if model:
            found[scorer.name] = str(model)
    return found


def prompt_text(sample) -> str:
    """The sample's input as the prompt: a string input as it is, a chat input as its user turns."""
    if isinstance(sample.input, str):
        return sample.input
    user = [m.text for m in sample.input if m.role == "user"]
    return "\n\n".join(user or [m.text for m in sample.input])


def response_text(sample) -> str | None:
    """What the model answered, or None when the sample ended in an error before any output."""
    output = sample.output
    if output is None or (not output.choices and sample.error is not None):
        return None
    return output.completion


def response_key(task: Task, sample) -> tuple[str, str, str, str] | None:
    """(dataset, source id, model, response text): how the store finds this sample's response."""
    text = response_text(sample)
    return None if text is None else (task.dataset, str(sample.id), task.model, text)


def _metadata(sample) -> dict:
    return {k: v for k, v in (sample.metadata or {}).items() if isinstance(v, (str, int, float, bool))}


def _text(value) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _raw(value) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan (unscored)"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _expected(task: Task, sample, metadata: dict) -> str | None:
    target = sample.target if isinstance(sample.target, str) else " ".join(sample.target or [])
    return (labels.expected_from(target) or labels.expected_from(metadata.get("expected"))
            or (labels.expected_from(metadata.get("label")) if task.vocabulary == "xstest" else None))


#: A .eval archive that says it unpacks to more than this many times its packed size, and to more
#: than MAX_UNPACKED bytes, is refused before inspect_ai unpacks it: JSON logs pack 4-20x, a zip bomb
#: thousands of times.
MAX_RATIO, MAX_UNPACKED = 200, 256 * 2**20


def check_archive(path) -> None:
    """Refuse an .eval archive that would unpack to an unreasonable size (hostile input stays bounded
    in memory). The sizes come from the zip's directory, which also bounds what zipfile unpacks."""
    import zipfile

    if Path(path).suffix.lower() != ".eval" or not zipfile.is_zipfile(path):
        return  # a JSON log, or not a zip at all: inspect_ai's reader says what is wrong with it
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    unpacked = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    if unpacked > MAX_UNPACKED and unpacked > MAX_RATIO * packed:
        raise SourceError(path, f"the archive says it unpacks to {unpacked / 2**20:,.0f} MB from "
                          f"{packed / 2**20:,.1f} MB; refusing a likely zip bomb")


def read_log(path, dataset: str | None = None) -> Batch:
    """One log file into a Batch (nothing written)."""
    api = inspect_log_api(path)
    batch = Batch(str(path))
    with reading(path):  # a damaged zip directory fails in check_archive already: the same clear error
        check_archive(path)
        header = api.read_eval_log(str(path), header_only=True)
        task = task_of(header.eval, dataset)
        grader = graders(header.eval)
        for index, sample in enumerate(api.read_eval_log_samples(str(path), all_samples_required=False)):
            _add_sample(batch, task, grader, index, sample)
    if not batch.prompts:
        raise SourceError(path, "the log has no samples (was the eval run with --no-log-samples?)")
    return batch


def _add_sample(batch: Batch, task: Task, grader: dict, index: int, sample) -> None:
    metadata = _metadata(sample)
    text = prompt_text(sample)
    if not text.strip():
        raise SourceError(batch.path, f"sample {sample.id!r} (epoch {sample.epoch}) has no input text",
                          field=f"samples[{index}].input")
    split = metadata.get("label") if task.vocabulary == "xstest" else metadata.get("split")
    key = batch.add_prompt(
        f"samples[{index}]", task.dataset, str(sample.id), text,
        split=task.coconot_set if task.vocabulary == "coconot" else _text(split),
        category=_text(metadata.get("category")) or _text(metadata.get("type")),
        subcategory=_text(metadata.get("subcategory")), expected=_expected(task, sample, metadata),
        metadata={**metadata, "inspect_task": task.name},
    )
    text = response_text(sample)
    if text is None:
        return
    response = batch.add_response(key, task.model, text, settings={"inspect_epoch": sample.epoch})
    for scorer, score in (sample.scores or {}).items():
        label = task.label_of(score.value)
        batch.add_verdict(response, judge_name(task, scorer, grader.get(scorer)), "imported",
                          label or labels.UNPARSED, rationale=score.explanation, raw_output=_raw(score.value))


def read_inspect(path, dataset: str | None = None) -> list[Batch]:
    return [read_log(file, dataset) for file in log_files(path)]


def import_inspect(db: sqlite_utils.Database, path, dataset: str | None = None) -> ImportResult:
    """Import an inspect_ai log, or every log in a folder, all or nothing."""
    batches = read_inspect(path, dataset)  # every file parsed before anything is written
    with import_group(db):
        results = [batch.write(db) for batch in batches]
    return ImportResult.combined(str(path), results)  # after the group: its labels are counted
