"""Refusal Review from the shell: the same functions the app calls, for batch work.

    python cli.py [--db PATH] import KIND FILE... [options]
    python cli.py fetch coconot|orbench|xstest
    python cli.py stats --json
    python cli.py search QUERY [SELECTION] [--limit N] [--json]
    python cli.py judge --judge rules|coconot|three-class|FILE [--model M --base-url URL] [SELECTION]
    python cli.py generate --model M --base-url URL [SELECTION] [--system-prompt FILE] [--max-tokens N]
    python cli.py compare --judge A --judge B [--json]
    python cli.py agreement [--judge J] [--reference human|ANNOTATOR] [--by category] [SELECTION] [--json]
    python cli.py report [--source judge:NAME|human|corrected:NAME] [SELECTION] [--json]

SELECTION is the Review page's filter as options: --dataset, --category, --subcategory, --team-category,
--expected, --model (--responses-of where --model names the judging or answering model), --judged-by,
--judge-label, --human-status, --search.
    python cli.py export --format csv|jsonl|parquet|coconot [--history] OUT
    python cli.py export --format inspect LOG [--to EDITED | --in-place]
    python cli.py export --format hf DIR [--push-to-hub OWNER/NAME]
    python cli.py users list | users set-role NAME admin|reviewer|viewer | users self-signup on|off
"""

import functools
import json
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


def selection_options(model_option: str = "--model"):
    """The Review page's filter as options, giving the command a ``selection`` argument. Where
    ``--model`` already names the judging or answering model, the responding model is
    ``--responses-of``."""
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
        ("--search", "search", 'Words in the prompt or response text ("phrase", OR, NOT, prefix*).'),
    ]

    def decorate(command):
        @functools.wraps(command)  # keeps the options already declared below this decorator
        def wrapper(*args, **kwargs):
            values = {field: kwargs.pop(f"{field}_sel") or "" for _, field, _ in specs}
            return command(*args, selection=Selection(**values), **kwargs)

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
    with store.write_transaction(db):  # several files: all of them or none
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
    figures = store.reads.stats(open_db(ctx))
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    click.echo(f"schema v{figures['schema_version']}: {figures['prompts']} prompts, {figures['responses']} responses, "
               f"{figures['verdicts']} verdicts, {figures['annotations']} annotations")
    for name, counts in figures["datasets"].items():
        click.echo(f"  {name}: {counts['prompts']} prompts, {counts['responses']} responses")


@cli.command()
@click.argument("query")
@selection_options()
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
            table = value.to_string(index=False, float_format=lambda x: f"{x:.3f}") if len(value) else "  (none)"
            click.echo(f"{key}:\n{table}")
        else:
            click.echo(f"{key}: {value}")


@cli.command()
@click.option("--judge", help="Judge to measure; without it, every judge's leaderboard row and human agreement.")
@click.option("--reference", default="human", show_default=True,
              help="'human' (each item's majority label; ties left out) or one annotator's name.")
@click.option("--by", type=click.Choice(BREAKDOWNS),
              help="Also break the judge's figures down by this attribute.")
@selection_options()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def agreement(ctx, judge, reference, by, selection, as_json):
    """Judge-human agreement (accuracy, Cohen's kappa, refusal F1, 95% bootstrap intervals)."""
    from analysis import agreement as measure

    responses, verdicts, annotations = _frames(ctx, selection, labelled_only=True)
    if judge:
        figures = measure.judge_report(responses, verdicts, annotations, judge, reference, by)
    else:
        figures = measure.overview(responses, verdicts, annotations, reference)
    _echo(figures, as_json)


@cli.command()
@click.option("--source", default="human", show_default=True,
              help="judge:NAME (a judge's labels), human (majority labels) or corrected:NAME (PPI).")
@selection_options()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def report(ctx, source, selection, as_json):
    """Benchmark figures per model: CoCoNot compliance, OR-Bench rejection, XSTest compliance/refusal."""
    from analysis import benchmarks

    _echo(benchmarks.report(*_frames(ctx, selection), source), as_json)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet", "coconot", "inspect", "hf"]),
              required=True,
              help="jsonl is what 'import refusal-review' reads back; coconot is CoCoNot's own field names; "
                   "inspect writes the human labels as score edits into a copy of the inspect_ai log OUT "
                   "(or OUT itself with --in-place); hf writes a Hugging Face dataset folder OUT.")
@click.option("--history", is_flag=True, help="Every label row ever written, not only the current labels.")
@click.argument("out", type=click.Path())
@click.option("--in-place", is_flag=True, help="inspect: edit the log itself instead of writing LOG.reviewed.eval.")
@click.option("--to", "edited", type=click.Path(dir_okay=False),
              help="inspect: where to write the edited log (default: <log>.reviewed.<ext> beside it).")
@click.option("--reference", default="human", show_default=True,
              help="inspect: 'human' (each item's majority label; ties left out) or one annotator's name.")
@click.option("--dataset", help="inspect: the dataset the log was imported into, if --dataset was given then.")
@click.option("--push-to-hub", "repo", help="hf: upload the folder to this dataset repo (owner/name).")
@click.option("--private", is_flag=True, help="hf: create the hub repo private.")
@click.pass_context
def export(ctx, fmt, history, out, in_place, edited, reference, dataset, repo, private):
    """Export prompts, responses, verdicts and human labels to OUT (same files as the Export page)."""
    used = {"--in-place": in_place, "--to": edited, "--dataset": dataset, "--push-to-hub": repo, "--private": private,
            "--reference": reference != "human", "--history": history}
    allowed = {"inspect": {"--in-place", "--to", "--dataset", "--reference"}, "hf": {"--push-to-hub", "--private"}}
    wrong = [o for o, v in used.items() if v and o not in allowed.get(fmt, {"--history"})]
    if wrong:
        raise click.UsageError(f"{', '.join(wrong)} does not apply to --format {fmt}")
    db = open_db(ctx, readonly=True)
    if fmt == "inspect":
        from exports import inspect_edits

        click.echo(inspect_edits.write_edits(db, out, edited, in_place, reference, dataset).summary())
        return
    if fmt == "hf":
        from exports import hf_dataset

        click.echo(f"wrote {hf_dataset.write(db, out)}")
        if repo:
            click.echo(f"uploaded to {hf_dataset.push(out, repo, private=private)}")
        return
    from exports import files

    for path in files.write(db, fmt, out, history):
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
    """A tqdm bar fed by the runner's progress callback: rate, errors, tokens."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit=what, dynamic_ncols=True)

    def update(progress):
        bar.total = progress.total
        bar.n = progress.finished
        bar.set_postfix(errors=progress.errors, cached=progress.cached,
                        tokens=progress.prompt_tokens + progress.completion_tokens, refresh=False)
        bar.refresh()
    return bar, update


def _run_options(command):
    """Options shared by judge and generate: endpoint, key variable, concurrency, limits."""
    for option in reversed([
        click.option("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1."),
        click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
                     help="Environment variable holding the API key (never stored)."),
        click.option("--concurrency", default=16, show_default=True, type=click.IntRange(1, 1024)),
        click.option("--rpm", type=click.FloatRange(min=0.1), help="Requests-per-minute limit."),
        click.option("--processes", default=1, show_default=True, type=click.IntRange(1, 64),
                     help="Worker processes sharing the concurrency and rpm limits (for a fast local "
                          "endpoint, where one process's client CPU is the bottleneck)."),
        click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
                     help="Seconds per request."),
        click.option("--retries", default=4, show_default=True, type=click.IntRange(0, 20),
                     help="Retries per item on 429/5xx/timeouts (exponential backoff with jitter)."),
        click.option("--limit", type=click.IntRange(min=1), help="At most this many items."),
    ]):
        command = option(command)
    return command


def _settings(concurrency, rpm, timeout, retries, processes):
    from runs import Settings

    return Settings(concurrency=concurrency, rpm=rpm, timeout=timeout, max_attempts=retries + 1, processes=processes)


def _finish(run_id, progress, what):
    click.echo(f"run {run_id} {progress.status}: {progress.done} {what}, {progress.errors} errors, "
               f"{progress.cached} from cache, {progress.prompt_tokens + progress.completion_tokens} tokens "
               f"in {progress.elapsed:.1f}s" + (f" ({progress.message})" if progress.message else ""))
    if progress.status == "failed":
        sys.exit(1)


@cli.command()
@click.option("--judge", "spec", required=True, help="rules, coconot, three-class, or a template FILE.")
@click.option("--model", help="The judging LLM (LLM judges).")
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False, exists=True),
              help="Rules file for --judge rules (default: judges/rules.toml).")
@selection_options(model_option="--responses-of")
@_run_options
@click.pass_context
def judge(ctx, spec, model, rules_file, selection, base_url, api_key_env, concurrency, rpm, processes, timeout,
          retries, limit):
    """Judge every response in the selection that this judge has not judged yet (resumable)."""
    import judges
    from runs import Endpoint, orchestrator

    bar, update = _bar(0, "verdict")
    with bar:
        run_id, progress = orchestrator.judge(
            open_db(ctx), judges.load(spec, model=model, rules_file=rules_file), selection,
            endpoint=Endpoint(base_url, api_key_env=api_key_env),
            settings=_settings(concurrency, rpm, timeout, retries, processes), limit=limit, on_progress=update)
    _finish(run_id, progress, "verdicts")


@cli.command()
@click.option("--model", required=True, help="Model that answers the prompts.")
@click.option("--system-prompt", type=click.File("r", encoding="utf-8"), help="File with a system prompt.")
@click.option("--max-tokens", default=1024, show_default=True, type=click.IntRange(min=1))
@click.option("--temperature", default=0.0, show_default=True, type=click.FloatRange(0, 2))
@selection_options(model_option="--responses-of")
@_run_options
@click.pass_context
def generate(ctx, model, system_prompt, max_tokens, temperature, selection, base_url, api_key_env, concurrency, rpm,
             processes, timeout, retries, limit):
    """Collect responses of MODEL for every prompt in the selection that has none from it yet."""
    from judges.generate import Generator
    from runs import Endpoint, orchestrator

    generator = Generator(model, system_prompt.read() if system_prompt else None, max_tokens, temperature, base_url)
    bar, update = _bar(0, "response")
    with bar:
        run_id, progress = orchestrator.generate(
            open_db(ctx), generator, selection, endpoint=Endpoint(base_url, api_key_env=api_key_env),
            settings=_settings(concurrency, rpm, timeout, retries, processes), limit=limit, on_progress=update)
    _finish(run_id, progress, "responses")


@cli.command()
@click.option("--judge", "names", multiple=True, required=True, help="Give twice: two judges (name or unique prefix).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def compare(ctx, names, as_json):
    """List the responses two judges label differently."""
    from store import runs

    if len(names) != 2:
        raise click.UsageError("give exactly two judges: --judge A --judge B")
    db = open_db(ctx, readonly=True)
    a, b = (runs.resolve_judge(db, n) for n in names)
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

if __name__ == "__main__":
    sys.exit(cli())
