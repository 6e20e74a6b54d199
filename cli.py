"""Refusal Review from the shell: the same functions the app calls, for batch work.

    python cli.py [--db PATH] import KIND FILE... [options]
    python cli.py fetch coconot|orbench|xstest
    python cli.py stats --json
    python cli.py search QUERY [SELECTION] [--limit N] [--json]
    python cli.py judge --judge rules|coconot|three-class|FILE [--model M --base-url URL] [--structured MODE]
                        [SELECTION] [--limit N] [--dry-run --price-in P --price-out P] [--batch]
    python cli.py generate --model M --base-url URL [SELECTION] [--system-prompt FILE] [--max-tokens N] [--batch]
    python cli.py runs | resume RUN_ID
    python cli.py compare --judge A --judge B [--json]
    python cli.py agreement [--judge J] [--reference human|ANNOTATOR] [--by category] [SELECTION] [--json]
    python cli.py agreement --level prompt [--rule majority|any|all] [--dataset D] [--json]
    python cli.py prompts seed|rewrite|moderate|hard|publish|export|status ...   (build a prompt set)
    python cli.py report [--source judge:NAME|human|corrected:NAME] [SELECTION] [--json]

SELECTION is the Review page's filter as options: --dataset, --category, --subcategory, --team-category,
--expected, --model (--responses-of where --model names the judging or answering model), --judged-by,
--judge-label, --human-status, --tag, --search.
    python cli.py export [--format csv|jsonl|parquet|coconot] [--history] [SELECTION] OUT
    python cli.py export --format inspect LOG [--to EDITED | --in-place]
    python cli.py export --format hf DIR [--push-to-hub OWNER/NAME]
    python cli.py names list | names set judge|model NAME DISPLAY
    python cli.py users list | users set-role NAME admin|reviewer|viewer | users self-signup on|off
"""

import functools
import json
import os
import sys

import click

import sources
import sources.hub
import store
from analysis.agreement import BREAKDOWNS
from errors import UserError
from store.selection import ORDERS, STATUSES, Selection


class Errors(click.Group):
    """What a user can fix (a bad file, an unusable database, a bad option value) ends with one
    clear line and exit 1; any other exception is a bug and keeps its traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise click.ClickException(str(exc)) from exc


def selection_options(model_option: str = "--model", checked: bool = True):
    """The Review page's filter as options, giving the command a ``selection`` argument. Where
    ``--model`` already names the judging or answering model, the responding model is
    ``--responses-of``. ``checked``: a value that names nothing in the database (``--dataset
    nosuchset``) is an error rather than an empty answer that looks like one; ``search`` reports
    "matching prompts: 0" itself, so it is not checked."""
    specs = [
        ("--dataset", "dataset", "Only prompts of this dataset."),
        ("--category", "category", "Only prompts of this benchmark category."),
        ("--subcategory", "subcategory", "Only prompts of this benchmark subcategory."),
        ("--team-category", "team_category", "Only prompts in this team category."),
        ("--expected", "expected", "Only prompts with this expected behaviour (should_refuse, should_comply)."),
        (model_option, "model", "Only responses of this model."),
        ("--judged-by", "judge", "Only responses this judge has judged."),
        ("--judge-label", "judge_label", "Only responses a judge (--judged-by, else any) gave this label."),
        ("--human-status", "status", "Only responses with this human status: " + ", ".join(s for s in STATUSES if s)),
        ("--tag", "tag", "Only responses with this team tag."),
        ("--search", "search", 'Words in the prompt or response text ("phrase", OR, NOT, prefix*).'),
    ]

    def decorate(command):
        @functools.wraps(command)  # keeps the options already declared below this decorator
        def wrapper(*args, **kwargs):
            values = {field: kwargs.pop(f"{field}_sel") or "" for _, field, _ in specs}
            selection = Selection(**values)
            if checked and selection != Selection():
                from store import review

                selection = review.checked(open_db(click.get_current_context(), readonly=True), selection)
            return command(*args, selection=selection, **kwargs)

        for option, field, help_text in reversed(specs):
            wrapper = click.option(option, f"{field}_sel", help=help_text)(wrapper)
        return wrapper
    return decorate


@click.group(cls=Errors)
@click.option("--db", "db_path", envvar="REFUSAL_REVIEW_DB", default=store.connection.DEFAULT_DB,
              show_default=True, help="SQLite database file (env REFUSAL_REVIEW_DB).")
@click.pass_context
def cli(ctx, db_path):
    """Audit how language models refuse: import benchmarks, judge responses, measure judges."""
    ctx.obj = {"db_path": db_path}


def open_db(ctx, readonly: bool | None = None):
    return store.connect(ctx.obj["db_path"], readonly=readonly)


@cli.command("import")
@click.argument("kind", type=click.Choice(sorted(sources.IMPORTERS)))
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--set", "set_", help="Benchmark split: CoCoNot original|contrast|pref; OR-Bench 80k|hard-1k|toxic.")
@click.option("--model", help="Model that wrote the responses in the file.")
@click.option("--dataset", help="Dataset name for generic files (and to override an eval log's own).")
@click.option("--map", "mapping", multiple=True, help="Generic files: field=column, e.g. prompt=question.")
@click.pass_context
def import_(ctx, kind, files, set_, model, dataset, mapping):
    """Import FILES of KIND into the database, all or nothing (an inspect log may be a folder of logs)."""
    given = {"set": set_, "model": model, "dataset": dataset, "map": mapping}
    option_of = {"coconot_set": "set", "orbench_set": "set", "model": "model", "dataset": "dataset", "mapping": "map"}
    takes = {argument: option_of[argument] for argument in sources.KINDS[kind].options}  # importer argument -> option
    unused = [f"--{option}" for option, value in given.items() if value and option not in takes.values()]
    if unused:
        raise click.UsageError(f"{', '.join(unused)} does not apply to {kind} files")
    options = {argument: given[option] for argument, option in takes.items()}
    db = open_db(ctx)
    with store.import_group(db):  # several files: all of them or none
        results = [sources.import_file(db, kind, file, **options) for file in files]
    for result in results:
        click.echo(result.summary())


@cli.command()
@click.argument("name", type=click.Choice(sorted(sources.hub.SOURCES)))
@click.pass_context
def fetch(ctx, name):
    """Download benchmark NAME from the Hugging Face hub and import it, all or nothing."""
    for result in sources.hub.fetch(open_db(ctx), name):
        click.echo(result.summary())


@cli.command()
@click.pass_context
def demo(ctx):
    """Load the built-in demo data set (made-up prompts, three models, judges, reviewers)."""
    from demo import build_demo

    click.echo(build_demo(open_db(ctx)).summary())


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def stats(ctx, as_json):
    """Counts of prompts, responses, verdicts and annotations, per dataset."""
    figures = store.reads.stats(open_db(ctx, readonly=True))
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    click.echo(f"schema v{figures['schema_version']}: {figures['prompts']} prompts, {figures['responses']} responses, "
               f"{figures['verdicts']} verdicts, {figures['annotations']} annotations")
    for name, counts in figures["datasets"].items():
        click.echo(f"  {name}: {counts['prompts']} prompts, {counts['responses']} responses")


@cli.command()
@click.argument("query")
@selection_options(checked=False)
@click.option("--order", type=click.Choice(list(ORDERS)), default="stored", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random order.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def search(ctx, query, selection, order, seed, limit, as_json):
    """Full-text search of prompt and response text, as the Review page's search box (same syntax:
    plain words, "exact phrase", OR, NOT, prefix*; an empty QUERY lists the selection). One row per
    matching response, in the Review page's order."""
    import dataclasses

    from store import review

    db = open_db(ctx, readonly=True)
    f = dataclasses.replace(selection, search=query, order=order, seed=seed)
    total, rows = review.count_items(db, f), review.browse_page(db, f, 0, limit)
    if as_json:
        click.echo(json.dumps({"query": query, "prompts": total, "rows": rows.to_dict(orient="records")},
                              indent=2, ensure_ascii=False))
        return
    click.echo(f"matching prompts: {total}; their responses shown: {len(rows)}")
    for row in rows.itertuples():
        snippet = " ".join(row.prompt.split())[:70]
        click.echo(f"  {row.dataset}:{row.source_id}\t{row.model}\t{snippet!r}")


def _frames(ctx, selection: Selection, labelled_only: bool = False):
    return store.reads.analysis_frames(open_db(ctx, readonly=True), selection, labelled_only)


def _echo(figures: dict, as_json: bool):
    import pandas as pd

    from analysis.jsonable import jsonable

    if as_json:
        click.echo(json.dumps(jsonable(figures), indent=2))
        return
    for key, value in figures.items():
        if isinstance(value, dict):
            _echo({f"{key} {name}": inner for name, inner in value.items()}, as_json)
        elif isinstance(value, pd.DataFrame):
            table = _table(value).to_string(index=False) if len(value) else "  (none)"
            click.echo(f"{key}:\n{table}")
        else:
            click.echo(f"{key}: {_figure(value) if isinstance(value, float) else value}")


def _table(frame):
    """A frame as text: figures through ``_figure``, a missing attribute (a subcategory) blank."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype.kind == "f":
            out[column] = out[column].map(_figure)
        else:
            out[column] = out[column].astype(object).where(out[column].notna(), "")
    return out


def _figure(value: float) -> str:
    """Every figure with the same three decimals; NaN (kappa with one label only, a rate of nothing)
    is "undefined", never a number."""
    return "undefined" if value != value else f"{value:.3f}"


@cli.command()
@click.option("--judge", help="Judge to measure (its name, display name or a unique prefix, e.g. rules); without it, "
                             "every judge's leaderboard row and human agreement.")
@click.option("--reference", default="human", show_default=True,
              help="'human' (each item's majority label; ties left out) or one annotator's name.")
@click.option("--by", type=click.Choice(BREAKDOWNS),
              help="Also break the judge's figures down by this attribute.")
@click.option("--level", type=click.Choice(["response", "prompt"]), default="response", show_default=True,
              help="prompt: moderators and their ensemble against the human prompt labels.")
@click.option("--rule", type=click.Choice(["majority", "any", "all"]), default="majority", show_default=True,
              help="--level prompt: the ensemble's rule.")
@selection_options()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def agreement(ctx, judge, reference, by, level, rule, selection, as_json):
    """Judge-human agreement (accuracy, Cohen's kappa, refusal F1, 95% bootstrap intervals); with
    --level prompt, each moderator's and the ensemble's agreement with the human prompt labels."""
    from analysis import agreement as measure
    from store import adjudication, discussion, names

    if level == "prompt":
        _prompt_agreement(ctx, selection.dataset, rule, reference, as_json)
        return
    db = open_db(ctx, readonly=True)
    responses, verdicts, annotations = _frames(ctx, selection, labelled_only=True)
    final = adjudication.finals_frame(db)
    if judge:
        figures = measure.judge_report(responses, verdicts, annotations, names.resolve_judge(db, judge, missing_ok=True),
                                       reference, by, final=final, tags=discussion.tags_frame(db))
    else:
        figures = measure.overview(responses, verdicts, annotations, reference, final=final)
    _echo(figures, as_json)


def _prompt_agreement(ctx, dataset: str, rule: str, reference: str, as_json: bool) -> None:
    from analysis import moderation
    from store import prompt_labels, promptsets

    db = open_db(ctx, readonly=True)
    _echo(moderation.moderator_agreement(promptsets.moderations_frame(db, dataset), prompt_labels.labels_frame(db),
                                         rule, reference), as_json)


@cli.command()
@click.option("--source", default="human", show_default=True,
              help="judge:NAME (a judge's labels; NAME may be a unique prefix), human (majority labels, or the "
                   "adjudicator's final label), corrected:NAME (PPI) or active:NAME (PPI with the suggested "
                   "batches' labels weighted by 1 / pi).")
@selection_options()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def report(ctx, source, selection, as_json):
    """Benchmark figures per model: CoCoNot compliance, OR-Bench rejection, XSTest compliance/refusal."""
    from analysis import benchmarks
    from store import adjudication, names, suggestions

    db = open_db(ctx, readonly=True)
    kind, judge = benchmarks.parse_source(source)
    judge = names.resolve_judge(db, judge, missing_ok=True) if judge else None
    source = f"{kind}:{judge}" if judge else source
    batches = suggestions.batches_frame(db) if kind == "active" else None
    counts = store.reads.judge_label_counts(db, selection, judge)  # judge-only rates counted in SQL
    _echo(benchmarks.report(*_frames(ctx, selection, labelled_only=True), source, final=adjudication.finals_frame(db),
                            batches=batches, counts=counts, judges=store.reads.judges_with_verdicts(db)), as_json)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet", "coconot", "inspect", "hf"]),
              help="Default: from OUT's suffix (.csv, .jsonl, .parquet). jsonl is what 'import refusal-review' "
                   "reads back; coconot is CoCoNot's own field names; inspect writes the human labels as score "
                   "edits into a copy of the inspect_ai log OUT (or OUT itself with --in-place); hf writes a "
                   "Hugging Face dataset folder OUT.")
@click.option("--history", is_flag=True, help="Every label row ever written, not only the current labels.")
@selection_options()
@click.argument("out", type=click.Path())
@click.option("--in-place", is_flag=True, help="inspect: edit the log itself instead of writing LOG.reviewed.eval.")
@click.option("--to", "edited", type=click.Path(dir_okay=False),
              help="inspect: where to write the edited log (default: <log>.reviewed.<ext> beside it).")
@click.option("--reference", default="human", show_default=True,
              help="inspect: 'human' (each item's majority label; ties left out) or one annotator's name.")
@click.option("--push-to-hub", "repo", help="hf: upload the folder to this dataset repo (owner/name).")
@click.option("--private", is_flag=True, help="hf: create the hub repo private.")
@click.pass_context
def export(ctx, fmt, history, selection, out, in_place, edited, reference, repo, private):
    """Export prompts, responses, verdicts, human labels, tags, comments and final labels of the
    selection (default: everything) to OUT (same files as the Export page). For inspect, --dataset
    is the dataset the log was imported into, if --dataset was given then."""
    used = {"--in-place": in_place, "--to": edited, "--push-to-hub": repo, "--private": private,
            "--reference": reference != "human", "--history": history}
    allowed = {"inspect": {"--in-place", "--to", "--reference"}, "hf": {"--push-to-hub", "--private"}}
    wrong = [o for o, v in used.items() if v and o not in allowed.get(fmt, {"--history"})]
    if fmt in ("inspect", "hf") and set(selection.changed()) - ({"dataset"} if fmt == "inspect" else set()):
        wrong.append("a filter")
    if wrong:
        raise click.UsageError(f"{', '.join(wrong)} does not apply to --format {fmt}")
    db = open_db(ctx, readonly=True)
    if fmt == "inspect":
        from exports import inspect_edits

        click.echo(inspect_edits.write_edits(db, out, edited, in_place, reference, selection.dataset or None).summary())
        return
    if fmt == "hf":
        from exports import hf_dataset

        click.echo(f"wrote {hf_dataset.write(db, out)}")
        if repo:
            click.echo(f"uploaded to {hf_dataset.push(out, repo, private=private)}")
        return
    from exports import files

    for path in files.write(db, fmt, out, history, selection):
        click.echo(f"wrote {path}")


@cli.group()
def users():
    """Who may write: admin (roles, categories, deleting showcases), reviewer (labels), viewer (reads).
    The shell acts as the database owner, so these commands need no admin."""


@users.command("list")
@click.pass_context
def users_list(ctx):
    from store import users as roles

    db = open_db(ctx, readonly=True)
    click.echo(f"self-signup: {'on' if roles.self_signup(db) else 'off'}")
    for user in roles.list_users(db):
        click.echo(f"{user['name']}\t{user['role']}\t{user['created_at']}")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(["admin", "reviewer", "viewer"]))
@click.pass_context
def users_set_role(ctx, name, role):
    from store import users as roles

    roles.set_role(open_db(ctx), name, role)
    click.echo(f"{name} is now {role}")


@users.command("self-signup")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.pass_context
def users_self_signup(ctx, state):
    """on: unknown names become reviewers on their first label; off: they are viewers until given a role."""
    from store import users as roles

    roles.set_self_signup(open_db(ctx), state == "on")
    click.echo(f"self-signup {state}")


def _bar(total: int, what: str):
    """A tqdm bar fed by the runner's progress callback: rate, errors, tokens (and a batch's state)."""
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (a log file or CI would get every redraw
    # glued on one line); the run's summary line says the same at the end.
    bar = tqdm(total=total, unit=what, dynamic_ncols=True, disable=None)

    def update(progress):
        bar.total = progress.total
        bar.n = progress.finished
        if progress.message:
            bar.set_description_str(progress.message[:60], refresh=False)
        bar.set_postfix(errors=progress.errors, cached=progress.cached,
                        tokens=progress.prompt_tokens + progress.completion_tokens, refresh=False)
        bar.refresh()
    return bar, update


def _run_options(command):
    """Options shared by judge and generate: endpoint, key variable, concurrency, limits."""
    return click.option("--limit", type=click.IntRange(min=1), help="At most this many items.")(_call_options(command))


def _call_options(command):
    """How a run sends its calls: endpoint, key variable, concurrency, rate, timeouts, retries."""
    for option in reversed([
        click.option("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1."),
        click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
                     help="Environment variable holding the API key (never stored)."),
        click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 1024)),
        click.option("--rpm", type=click.FloatRange(min=0.1), help="Requests-per-minute limit."),
        click.option("--processes", type=click.IntRange(1, 64),
                     help="Worker processes. LLM calls: they share the concurrency and rpm limits (for a fast "
                          "local endpoint, where one process's client CPU is the bottleneck); default 1. Rule and "
                          "learned judges: they label chunks in parallel; default one per core."),
        click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
                     help="Seconds per request."),
        click.option("--retries", default=4, show_default=True, type=click.IntRange(0, 20),
                     help="Retries per item on 429/5xx/timeouts (exponential backoff with jitter)."),
    ]):
        command = option(command)
    return command


def _spend_options(command):
    """Options of judge and generate about what a run costs: a preview first, prices, the Batch API."""
    for option in reversed([
        click.option("--batch", is_flag=True,
                     help="Send the requests through the provider's Batch API (upload, poll, download; half the "
                          "price on OpenAI). A restarted command resumes polling the recorded batch."),
        click.option("--poll-every", default=30.0, show_default=True, type=click.FloatRange(min=0.01),
                     help="Seconds between a batch's status checks."),
        click.option("--dry-run", is_flag=True,
                     help="Show items, estimated tokens and cost, and stop: nothing is sent or written."),
        click.option("--price-in", type=click.FloatRange(min=0),
                     help="Price per million prompt tokens, for the estimated cost (--dry-run and the summary)."),
        click.option("--price-out", type=click.FloatRange(min=0),
                     help="Price per million completion tokens, for the estimated cost."),
    ]):
        command = option(command)
    return command


def _settings(concurrency, rpm, timeout, retries, processes):
    from runs import Settings

    return Settings(concurrency=concurrency, rpm=rpm, timeout=timeout, max_attempts=retries + 1,
                    processes=processes or 1)


def _batch(batch, poll_every):
    from runs.batch import BatchSettings

    return BatchSettings(poll_every=poll_every) if batch else None


def _dry_run(db, what, selection, base_url, limit, price_in, price_out):
    from runs import Endpoint, orchestrator

    shown = orchestrator.preview(db, what, selection, endpoint=Endpoint(base_url), limit=limit, price_in=price_in,
                                 price_out=price_out)
    click.echo("dry run: nothing sent, nothing written")
    for line in shown.lines():
        click.echo(f"  {line}")


def _finish(run_id, progress, what, price_in=None, price_out=None):
    cost = ""
    if price_in is not None or price_out is not None:
        spent = (progress.prompt_tokens * (price_in or 0) + progress.completion_tokens * (price_out or 0)) / 1e6
        cost = f", cost {spent:,.4f}"
    click.echo(f"run {run_id} {progress.status}: {progress.done} {what}, {progress.errors} errors, "
               f"{progress.cached} from cache, {progress.prompt_tokens} prompt + {progress.completion_tokens} "
               f"completion tokens{cost} in {progress.elapsed:.1f}s"
               + (f" ({progress.message})" if progress.message else ""))
    if progress.status == "failed":
        sys.exit(1)


@cli.command()
@click.option("--judge", "spec", required=True,
              help="rules, learned (trained on the human labels), coconot, three-class, or a template FILE.")
@click.option("--model", help="The judging LLM (LLM judges).")
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False, exists=True),
              help="Rules file for --judge rules (default: judges/rules.toml); --judge learned reads its verdicts.")
@click.option("--reference", default="human", show_default=True,
              help="--judge learned: learn 'human' (each response's majority label; ties left out) or one "
                   "annotator's labels.")
@click.option("--structured", type=click.Choice(["auto", "json_schema", "json_object", "format", "off"]),
              default="auto", show_default=True,
              help="How an LLM judge asks for its verdict as JSON: auto learns it from the endpoint's first answer "
                   "(json_schema: OpenAI, vLLM; json_object: llama.cpp; format: Ollama; off: plain prompting). "
                   "The mode is part of the judge's name.")
@click.option("--relearn", is_flag=True,
              help="Forget what this endpoint and model taught before (structured mode, refused parameters) and "
                   "learn it again: after the server was upgraded or changed.")
@selection_options(model_option="--responses-of")
@_run_options
@_spend_options
@click.pass_context
def judge(ctx, spec, model, rules_file, reference, structured, relearn, selection, base_url, api_key_env, concurrency,
          rpm, processes, timeout, retries, limit, batch, poll_every, dry_run, price_in, price_out):
    """Judge every response in the selection that this judge has not judged yet (resumable). The
    learned judge is trained first; on the responses it learnt from its verdicts are out-of-fold."""
    import judges
    from runs import Endpoint, orchestrator
    from store import endpoints

    if spec == "learned":
        from runs import learned

        chosen = learned.train(open_db(ctx), reference, rules_file=rules_file)
        click.echo(f"{chosen.name}: trained on {len(chosen.out_of_fold)} human labels ({', '.join(chosen.classes)})")
    else:
        chosen = judges.load(spec, model=model, rules_file=rules_file, structured=structured)
    if relearn and model:
        endpoints.forget(open_db(ctx), Endpoint(base_url).url, model)
    if dry_run:
        return _dry_run(open_db(ctx, readonly=True), chosen, selection, base_url, limit, price_in, price_out)
    if processes is None and hasattr(chosen, "label_items"):  # a batch judge labels on every core
        processes = min(os.cpu_count() or 1, 64)
    bar, update = _bar(0, "verdict")
    with bar:
        run_id, progress = orchestrator.judge(
            open_db(ctx), chosen, selection, endpoint=Endpoint(base_url, api_key_env=api_key_env),
            settings=_settings(concurrency, rpm, timeout, retries, processes), limit=limit, on_progress=update,
            batch=_batch(batch, poll_every))
    if hasattr(chosen, "parse"):
        _parsed_share(ctx, run_id)
    _finish(run_id, progress, "verdicts", price_in, price_out)


def _parsed_share(ctx, run_id):
    """How many of the judge's verdicts could be read: an unparsed share is reported, never hidden."""
    from store import runs

    db = open_db(ctx, readonly=True)
    name = runs.get_run(db, run_id)["target"]
    counts = runs.judge_labels(db, name)
    total, unparsed = sum(counts.values()), counts.get("unparsed", 0)
    if total:
        click.echo(f"judge {name}: {total - unparsed} of {total} verdicts parsed, {unparsed} unparsed "
                   f"({unparsed / total:.1%})")


@cli.command()
@click.option("--n", "size", default=50, show_default=True, type=click.IntRange(min=1), help="Responses to draw.")
@click.option("--judge", help="Learned judge whose uncertainty to favour (default: the newest).")
@click.option("--seed", type=click.IntRange(min=0), help="Seed of the draw (default: a fresh one, recorded).")
@selection_options()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def suggest(ctx, size, judge, seed, selection, as_json):
    """Draw and record the next batch to label, most informative first: a random sample favouring
    the learned judge's uncertainty, spread over models and categories, with each response's
    inclusion probability pi kept so corrected rates stay unbiased. The Review page's "most
    informative first" queue walks the same batches."""
    from analysis.jsonable import jsonable
    from runs import learned
    from store import names

    db = open_db(ctx)
    batch = learned.suggest(db, selection, size, names.resolve_judge(db, judge) if judge else None, seed)
    if as_json:
        click.echo(json.dumps(jsonable(batch), indent=2))
        return
    click.echo(batch.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


@cli.command()
@click.option("--model", required=True, help="Model that answers the prompts.")
@click.option("--system-prompt", type=click.File("r", encoding="utf-8"), help="File with a system prompt.")
@click.option("--max-tokens", default=1024, show_default=True, type=click.IntRange(min=1))
@click.option("--temperature", default=0.0, show_default=True, type=click.FloatRange(0, 2))
@selection_options(model_option="--responses-of")
@_run_options
@_spend_options
@click.pass_context
def generate(ctx, model, system_prompt, max_tokens, temperature, selection, base_url, api_key_env, concurrency, rpm,
             processes, timeout, retries, limit, batch, poll_every, dry_run, price_in, price_out):
    """Collect responses of MODEL for every prompt in the selection that has none from it yet."""
    from judges.generate import Generator
    from runs import Endpoint, orchestrator

    generator = Generator(model, system_prompt.read() if system_prompt else None, max_tokens, temperature, base_url)
    if dry_run:
        return _dry_run(open_db(ctx, readonly=True), generator, selection, base_url, limit, price_in, price_out)
    bar, update = _bar(0, "response")
    with bar:
        run_id, progress = orchestrator.generate(
            open_db(ctx), generator, selection, endpoint=Endpoint(base_url, api_key_env=api_key_env),
            settings=_settings(concurrency, rpm, timeout, retries, processes), limit=limit, on_progress=update,
            batch=_batch(batch, poll_every))
    _finish(run_id, progress, "responses", price_in, price_out)


@cli.command("runs")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def runs_(ctx, limit, as_json):
    """Recent runs. Runs whose process is gone are marked interrupted first (resume them with
    'resume RUN')."""
    from runs import orchestrator
    from store import runs

    db = open_db(ctx)
    orchestrator.reap(db)
    table = runs.recent_runs(db, limit)
    if as_json:
        click.echo(table.to_json(orient="records", indent=2))
        return
    click.echo(table.to_string(index=False) if len(table) else "no runs yet")


@cli.command()
@click.argument("run_id", type=int)
@click.pass_context
def resume(ctx, run_id):
    """Run again what run RUN_ID did (same judge or model, selection, endpoint) for the items it
    left. The API key is read from the run's key variable again (keys are never stored)."""
    from runs import orchestrator

    bar, update = _bar(0, "item")
    with bar:
        new_id, progress = orchestrator.resume(open_db(ctx), run_id, on_progress=update)
    _finish(new_id, progress, "items")


@cli.command()
@click.option("--judge", "names", multiple=True, required=True, help="Give twice: two judges (name or unique prefix).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def compare(ctx, names, as_json):
    """List the responses two judges label differently."""
    from store import names as naming
    from store import runs

    if len(names) != 2:
        raise click.UsageError("give exactly two judges: --judge A --judge B")
    db = open_db(ctx, readonly=True)
    a, b = (naming.resolve_judge(db, n) for n in names)
    rows = runs.disagreements(db, a, b)
    both = runs.overlap(db, a, b)
    if as_json:
        click.echo(json.dumps({"judge_a": a, "judge_b": b, "both_judged": both, "disagree": len(rows),
                               "items": rows.to_dict(orient="records")}, indent=2, ensure_ascii=False))
        return
    click.echo(f"{a} vs {b}: {len(rows)} of {both} responses judged by both disagree")
    for row in rows.itertuples():
        click.echo(f"  response {row.response_id}\t{row.dataset}:{row.source_id}\t{row.model}\t"
                   f"{row.label_a} vs {row.label_b}\t{row.prompt[:60]!r}")

# -- building a prompt set (OR-Bench's pipeline) --------------------------------------------------------

@cli.group()
def prompts():
    """Build a prompt set as OR-Bench does: seed -> rewrite -> moderate -> hard, then publish and export.
    Every step is resumable: a re-run makes only the calls that have no answer yet."""


def _step_summary(db, dataset: str) -> None:
    """What each build step put into ``dataset`` (calls, prompts read, kept, dropped)."""
    from store import promptsets

    counts = promptsets.step_counts(db)
    for row in counts[counts["dataset"] == dataset].itertuples():
        if row.calls:
            click.echo(f"{row.step} into {dataset}: {row.calls} calls answered ({row.unreadable_calls} with no "
                       f"readable prompt), {row.parsed} prompts read, {row.kept} kept, {row.duplicates} duplicates "
                       f"and {row.echoes} echoes dropped; {row.prompts} prompts in the dataset")
        else:
            click.echo(f"{row.step} into {dataset}: {row.prompts} prompts")


def _endpoint(base_url, api_key_env):
    from runs import Endpoint

    return Endpoint(base_url, api_key_env=api_key_env)


@prompts.command("seed")
@click.option("--category", required=True, help="The category of toxic prompts to generate, e.g. 'election fraud'.")
@click.option("--n", "n", default=2000, show_default=True, type=click.IntRange(min=1), help="Seeds to ask for.")
@click.option("--model", required=True, help="The generating model.")
@click.option("--dataset", required=True, help="Dataset the seeds go into (new, or made by earlier seed runs).")
@click.option("--examples", type=click.Path(dir_okay=False, exists=True),
              help="Example prompts to show the model: CoCoNot's seed files (the category's examples), "
                   "a JSON list, a CSV with a prompt column, or one prompt a line.")
@click.option("--template", "template_file", type=click.Path(dir_okay=False, exists=True),
              help="Your seed template ({category}, {n}, {examples}); default OR-Bench's.")
@click.option("--per-call", default=20, show_default=True, type=click.IntRange(1, 200), help="Seeds asked per call.")
@click.option("--temperature", default=1.0, show_default=True, type=click.FloatRange(0, 2))
@click.option("--max-tokens", default=2048, show_default=True, type=click.IntRange(min=1))
@_call_options
@click.pass_context
def prompts_seed(ctx, category, n, model, dataset, examples, template_file, per_call, temperature, max_tokens,
                 base_url, api_key_env, concurrency, rpm, processes, timeout, retries):
    """Toxic seed prompts for a category (OR-Bench's step 1), N at --per-call a call."""
    from judges import promptgen
    from runs import orchestrator
    from sources.seed_examples import read_examples

    shown = read_examples(examples, category) if examples else ()
    step = promptgen.seed_step(model, category, template_file=template_file, per_call=per_call, examples=shown,
                               temperature=temperature, max_tokens=max_tokens)
    db = open_db(ctx)
    bar, update = _bar(0, "call")
    with bar:
        run_id, progress = orchestrator.seed(db, step, dataset, n, endpoint=_endpoint(base_url, api_key_env),
                                             settings=_settings(concurrency, rpm, timeout, retries, processes),
                                             on_progress=update)
    _step_summary(db, dataset)
    _finish(run_id, progress, "calls")


@prompts.command("rewrite")
@click.option("--dataset", required=True, help="The seeds' dataset.")
@click.option("--into", required=True, help="Dataset the rewrites go into.")
@click.option("--model", required=True, help="The rewriting model.")
@click.option("--per-seed", default=5, show_default=True, type=click.IntRange(1, 50), help="Rewrites asked per seed.")
@click.option("--template", "template_file", type=click.Path(dir_okay=False, exists=True),
              help="Your rewrite template ({prompt}, {n}); default OR-Bench's.")
@click.option("--temperature", default=0.7, show_default=True, type=click.FloatRange(0, 2))
@click.option("--max-tokens", default=2048, show_default=True, type=click.IntRange(min=1))
@_run_options
@click.pass_context
def prompts_rewrite(ctx, dataset, into, model, per_seed, template_file, temperature, max_tokens, base_url,
                    api_key_env, concurrency, rpm, processes, timeout, retries, limit):
    """Rewrite each seed into prompts that only seem toxic (OR-Bench's step 2)."""
    from judges import promptgen
    from runs import orchestrator

    step = promptgen.rewrite_step(model, template_file=template_file, per_seed=per_seed, temperature=temperature,
                                  max_tokens=max_tokens)
    db = open_db(ctx)
    bar, update = _bar(0, "seed")
    with bar:
        run_id, progress = orchestrator.rewrite(db, step, Selection(dataset=dataset), into,
                                                endpoint=_endpoint(base_url, api_key_env),
                                                settings=_settings(concurrency, rpm, timeout, retries, processes),
                                                limit=limit, on_progress=update)
    _step_summary(db, into)
    _finish(run_id, progress, "calls")


def _moderator_spec(spec: str, base_url: str | None) -> tuple[str, str | None]:
    """MODEL or MODEL@URL -> (model, base URL)."""
    model, at, url = spec.rpartition("@")
    if at and url.startswith(("http://", "https://")):
        return model, url
    return spec, base_url


def _moderation_summary(db, dataset: str, rule: str, as_json: bool = False) -> None:
    from analysis import moderation
    from store import promptsets

    figures = moderation.summary(promptsets.moderations_frame(db, dataset), rule)
    if as_json:
        _echo({"dataset": dataset, **figures}, True)
        return
    for row in figures["moderators"].itertuples():
        click.echo(f"moderate {row.moderator} on {dataset}: {row.prompts} prompts, {row.toxic} toxic, {row.safe} "
                   f"safe, {row.unparsed} unparsed")
    e = figures["ensemble"]
    click.echo(f"ensemble ({e['rule']}) on {dataset}: {e['prompts']} prompts, {e['toxic']} toxic, {e['safe']} safe, "
               f"{e['undecided']} undecided")


@prompts.command("moderate")
@click.option("--dataset", required=True, help="The prompts to moderate.")
@click.option("--moderator", "specs", multiple=True, required=True,
              help="MODEL or MODEL@URL (its own endpoint); give several for an ensemble.")
@click.option("--rule", type=click.Choice(["majority", "any", "all"]), default="majority", show_default=True,
              help="How the ensemble decides (derived when shown, never stored).")
@click.option("--template", "template_file", type=click.Path(dir_okay=False, exists=True),
              help="Your moderation template ({prompt}); default OR-Bench's.")
@click.option("--max-tokens", default=1000, show_default=True, type=click.IntRange(min=1))
@_run_options
@click.pass_context
def prompts_moderate(ctx, dataset, specs, rule, template_file, max_tokens, base_url, api_key_env, concurrency, rpm,
                     processes, timeout, retries, limit):
    """Moderators' verdicts on every prompt (OR-Bench's step 3): one of ten categories or none."""
    from judges import promptgen
    from runs import orchestrator

    db = open_db(ctx)
    failed = False
    for spec in specs:
        model, url = _moderator_spec(spec, base_url)
        judge = promptgen.moderator(model, template_file=template_file, max_tokens=max_tokens)
        bar, update = _bar(0, "prompt")
        with bar:
            run_id, progress = orchestrator.moderate(db, judge, Selection(dataset=dataset),
                                                     endpoint=_endpoint(url, api_key_env),
                                                     settings=_settings(concurrency, rpm, timeout, retries, processes),
                                                     limit=limit, on_progress=update)
        click.echo(f"{judge.name}: run {run_id} {progress.status}: {progress.done} verdicts, {progress.errors} "
                   f"errors, {progress.cached} from cache" + (f" ({progress.message})" if progress.message else ""))
        failed = failed or progress.status == "failed"
    _moderation_summary(db, dataset, rule)
    if failed:
        sys.exit(1)


@prompts.command("hard")
@click.option("--dataset", required=True, help="The moderated prompts.")
@click.option("--judge", required=True, help="The judge whose verdicts on the models' responses count.")
@click.option("--min-refusals", default=1, show_default=True, type=click.IntRange(min=1),
              help="A safe prompt is hard when at least this many models refuse it.")
@click.option("--rule", type=click.Choice(["majority", "any", "all"]), default="majority", show_default=True,
              help="The ensemble rule that decides which prompts are safe (where no human has).")
@click.option("--into", required=True, help="Dataset the hard prompts are copied into.")
@click.pass_context
def prompts_hard(ctx, dataset, judge, min_refusals, rule, into):
    """The safe prompts that models still refuse (OR-Bench-Hard-1K's recipe)."""
    from runs import orchestrator

    result = orchestrator.hard(open_db(ctx), dataset, judge, into, min_refusals=min_refusals, rule=rule)
    click.echo(f"hard from {dataset}: {result['safe']} safe prompts, {result['hard']} refused by at least "
               f"{min_refusals} models, {result['added']} added to {into}")


@prompts.command("publish")
@click.option("--dataset", required=True, help="The built prompts.")
@click.option("--into", required=True, help="Name of the published dataset.")
@click.option("--rule", type=click.Choice(["majority", "any", "all"]), default="majority", show_default=True,
              help="The ensemble rule, where no human label decides.")
@click.pass_context
def prompts_publish(ctx, dataset, into, rule):
    """Publish a built set as a dataset: expected behaviour from the human label, else the ensemble."""
    from runs import orchestrator

    r = orchestrator.publish(open_db(ctx), dataset, into, rule=rule)
    click.echo(f"published {r['published']} of {r['prompts']} prompts of {dataset} as {into} ({r['from_human']} "
               f"decided by humans, {r['from_ensemble']} by the ensemble; {r['left_out']} left out: unclear or "
               f"undecided; {r['added']} new)")


@prompts.command("export")
@click.option("--dataset", required=True)
@click.option("--format", "fmt", type=click.Choice(["orbench", "jsonl"]), required=True,
              help="orbench: prompt,category CSVs (toxic and safe); jsonl: one object per prompt with provenance.")
@click.option("--safe-set", type=click.Choice(["80k", "hard-1k"]), default="80k", show_default=True,
              help="The OR-Bench set name the safe prompts' CSV carries.")
@click.argument("out", type=click.Path(dir_okay=False))
@click.pass_context
def prompts_export(ctx, dataset, fmt, safe_set, out):
    """Export a built or published prompt set to OUT."""
    from exports import promptsets as files

    db = open_db(ctx, readonly=True)
    paths = files.write_orbench(db, dataset, out, safe_set) if fmt == "orbench" else [files.write_jsonl(db, dataset, out)]
    for path in paths:
        click.echo(f"wrote {path}")


@prompts.command("status")
@click.option("--rule", type=click.Choice(["majority", "any", "all"]), default="majority", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def prompts_status(ctx, rule, as_json):
    """Counts per build step for every built dataset, and each moderated dataset's verdicts."""
    from analysis import moderation
    from store import promptsets

    db = open_db(ctx, readonly=True)
    datasets = promptsets.generated_datasets(db)
    if as_json:
        _echo({"steps": promptsets.step_counts(db),
               "moderation": {d: moderation.summary(promptsets.moderations_frame(db, d), rule)
                              for d in datasets if promptsets.moderators(db, d)}}, True)
        return
    for dataset in datasets:
        _step_summary(db, dataset)
        if promptsets.moderators(db, dataset):
            _moderation_summary(db, dataset, rule)


@cli.group()
def names():
    """What judges and models are called on screen and in reports (stored names never change)."""


@names.command("list")
@click.pass_context
def names_list(ctx):
    from store import names as naming

    for kind, shown in naming.shown_names(open_db(ctx, readonly=True)).items():
        for name, display in shown.items():
            click.echo(f"{kind}\t{name}\t{display}")


@names.command("set")
@click.argument("kind", type=click.Choice(["judge", "model"]))
@click.argument("name")
@click.argument("display")
@click.pass_context
def names_set(ctx, kind, name, display):
    """Show judge or model NAME (a judge: its name, display name or a unique prefix) as DISPLAY; an
    empty DISPLAY goes back to the default."""
    from store import names as naming

    db = open_db(ctx)
    name = naming.resolve_judge(db, name) if kind == "judge" else name
    naming.set_display_name(db, kind, name, display)
    click.echo(f"{kind} {name} is shown as {naming.shown_names(db)[kind][name]}")


if __name__ == "__main__":
    sys.exit(cli())
