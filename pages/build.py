"""Build: a category name to a reviewed, published prompt set, OR-Bench's pipeline step by step
(seed -> rewrite -> moderate -> hard -> publish), with the counts per step, a sample of each
step's output, and progress and cancel for the step that is running.

Each button starts the same ``runs.orchestrator`` function as ``python cli.py prompts ...`` on a
background thread (ui.run_panel), so a step stopped half-way resumes where it left off, from here
or from the shell. Hard and publish make no calls and run at once.
"""

import pandas as pd
import streamlit as st

from analysis import moderation
from errors import UserError
from judges import promptgen
from runs import orchestrator
from store.selection import Selection
from ui import auth, cached, run_panel, session, shell
from ui.display import escape_markdown

JOB = "build_job"
RULES = {"majority": "majority of all moderators", "any": "any moderator says toxic",
         "all": "every moderator says toxic"}

shell.require_shell()
st.title("Build a prompt set")
st.caption("OR-Bench's pipeline: toxic **seeds** from a category name, **rewrites** that only seem toxic, "
           "**moderators** that classify every prompt (the ensemble's decision is derived, never stored), the "
           "**hard** prompts models still refuse, and a **published** dataset. Review the prompts on the "
           "Prompt review page; the moderators' agreement with you is on the Agreement page.")
blocked = auth.why_not("reviewer")
if blocked:
    st.info(blocked, icon=":material/lock:")
busy = run_panel.busy(JOB)
datasets = cached.built_datasets()
everything = cached.options()["dataset"]


def start(label: str, work) -> None:
    run_panel.start(JOB, label, work)


def attempt(make):
    """A step object from the form, or None after showing why it cannot be made."""
    try:
        return make()
    except UserError as exc:
        st.error(escape_markdown(exc), icon=":material/error:")
        return None


# -- counts per step --------------------------------------------------------------------------------
st.subheader("Steps so far")
counts = cached.step_counts()
if counts.empty:
    st.info("Nothing built yet: start with a category name below.", icon=":material/info:")
else:
    parse_rate = (counts["calls"] - counts["unreadable_calls"]) / counts["calls"].where(counts["calls"] > 0)
    st.dataframe(counts.assign(readable_calls=parse_rate)[
        ["dataset", "step", "prompts", "calls", "readable_calls", "parsed", "kept", "duplicates", "echoes",
         "models"]], hide_index=True, width="stretch", key="build_counts",
        column_config={"readable_calls": st.column_config.NumberColumn(
            "calls with prompts", format="percent", help="Share of answered calls from which prompts could be read"),
            "duplicates": st.column_config.NumberColumn(help="Dropped: same normalised text as a prompt kept"),
            "echoes": st.column_config.NumberColumn(help="Dropped: a line of the request repeated back")})

run_panel.progress_panel(JOB, "build_cancel")

seed_tab, rewrite_tab, moderate_tab, hard_tab, publish_tab = st.tabs(
    ["1 · Seed", "2 · Rewrite", "3 · Moderate", "4 · Hard", "5 · Publish"])

with seed_tab:
    st.caption("Asks the model for toxic prompts of the category, 20 a call at temperature 1.0 (OR-Bench's "
               "generate_toxic_promt_from_category.py). Each call is the same request; calls already answered "
               "are never made again.")
    a, b, c = st.columns(3)
    category = a.text_input("Category", key="build_seed_category", placeholder="e.g. election fraud")
    seeds_into = b.text_input("Into dataset", key="build_seed_dataset", placeholder="e.g. election-seeds")
    n = c.number_input("Seeds to ask for", 1, 100_000, 100, key="build_seed_n")
    seed_model = st.text_input("Generating model", key="build_seed_model")
    template = st.text_area("Template", promptgen.SEED_TEMPLATE.read_text(encoding="utf-8").rstrip(),
                            key="build_seed_template", help="{category}, {n} and {examples} are filled in.")
    endpoint, settings = run_panel.endpoint_inputs("build_seed")
    if st.button("Generate seeds", type="primary", key="build_start_seed",
                 disabled=bool(blocked) or busy or not (category and seeds_into and seed_model)):
        step = attempt(lambda: promptgen.seed_step(seed_model, category, template=template))
        if step:
            start(f"seed {category}", lambda db, on_progress, cancel: orchestrator.seed(
                db, step, seeds_into.strip(), int(n), endpoint=endpoint, settings=settings,
                actor=auth.current_user(), on_progress=on_progress, cancel=cancel))

with rewrite_tab:
    st.caption("Rewrites each seed into prompts on the line between safe and harmful, at temperature 0.7 "
               "(OR-Bench's mixtral_rewrite_only.py); each rewrite keeps its seed.")
    a, b, c = st.columns(3)
    source = a.selectbox("Seeds from", sorted(datasets), key="build_rewrite_source")
    rewrites_into = b.text_input("Into dataset", key="build_rewrite_into", placeholder="e.g. election-rewrites")
    per_seed = c.number_input("Rewrites per seed", 1, 50, 5, key="build_rewrite_per_seed")
    rewrite_model = st.text_input("Rewriting model", key="build_rewrite_model")
    template = st.text_area("Template", promptgen.REWRITE_TEMPLATE.read_text(encoding="utf-8").rstrip(),
                            key="build_rewrite_template", height=200, help="{prompt} and {n} are filled in.")
    endpoint, settings = run_panel.endpoint_inputs("build_rewrite")
    if st.button("Rewrite", type="primary", key="build_start_rewrite",
                 disabled=bool(blocked) or busy or not (source and rewrites_into and rewrite_model)):
        step = attempt(lambda: promptgen.rewrite_step(rewrite_model, per_seed=int(per_seed), template=template))
        if step:
            start(f"rewrite {source}", lambda db, on_progress, cancel: orchestrator.rewrite(
                db, step, Selection(dataset=source), rewrites_into.strip(), endpoint=endpoint, settings=settings,
                actor=auth.current_user(), on_progress=on_progress, cancel=cancel))

with moderate_tab:
    st.caption("Classifies every prompt into one of OR-Bench's ten categories or none (moderate_only.py). Run "
               "it once per moderator: the ensemble is their combination, derived when shown.")
    a, b = st.columns(2)
    target = a.selectbox("Prompts of", everything, key="build_moderate_dataset")
    moderator_model = b.text_input("Moderating model", key="build_moderate_model")
    template = st.text_area("Template", promptgen.MODERATE_TEMPLATE.read_text(encoding="utf-8").rstrip(),
                            key="build_moderate_template", height=200, help="{prompt} is filled in.")
    endpoint, settings = run_panel.endpoint_inputs("build_moderate")
    if st.button("Moderate", type="primary", key="build_start_moderate",
                 disabled=bool(blocked) or busy or not (target and moderator_model)):
        judge = attempt(lambda: promptgen.moderator(moderator_model, template=template))
        if judge:
            start(f"moderate {target} with {moderator_model}", lambda db, on_progress, cancel: orchestrator.moderate(
                db, judge, Selection(dataset=target), endpoint=endpoint, settings=settings,
                actor=auth.current_user(), on_progress=on_progress, cancel=cancel))

with hard_tab:
    st.caption("The safe prompts (a human said so, else the ensemble) that at least K of the models in the "
               "database refuse, by a judge's verdicts on their responses: OR-Bench-Hard-1K's recipe. Collect "
               "the models' responses and judge them on the Run page first.")
    a, b, c = st.columns(3)
    hard_source = a.selectbox("Prompts of", sorted(datasets), key="build_hard_source")
    judge_name = b.selectbox("Judge", cached.options()["judge"],
                             key="build_hard_judge", help="The judge whose verdicts on the models' responses count.")
    k = c.number_input("At least K models refuse", 1, 100, 1, key="build_hard_k")
    d, e = st.columns(2)
    hard_into = d.text_input("Into dataset", key="build_hard_into", placeholder="e.g. election-hard")
    hard_rule = e.selectbox("Ensemble rule", list(RULES), format_func=RULES.get, key="build_hard_rule")
    if st.button("Select hard prompts", type="primary", key="build_hard",
                 disabled=bool(blocked) or not (hard_source and judge_name and hard_into)):
        ok, result = auth.attempt(orchestrator.hard, session.db(), hard_source, judge_name, hard_into.strip(),
                                  min_refusals=int(k), rule=hard_rule, actor=auth.current_user())
        if ok:
            st.success(f"{result['hard']:,} of {result['safe']:,} safe prompts are refused by at least {int(k)} "
                       f"models; {result['added']:,} added to {escape_markdown(result['into'])}.")

with publish_tab:
    st.caption("Copies the prompts into a dataset of their own with their expected behaviour: the human label "
               "where there is one (Prompt review), else the ensemble. Prompts humans call unclear, or nobody "
               "decided, are left out. Export it with `python cli.py prompts export` (OR-Bench CSV or JSONL).")
    a, b, c = st.columns(3)
    publish_source = a.selectbox("Prompts of", sorted(datasets), key="build_publish_source")
    publish_into = b.text_input("Publish as", key="build_publish_into", placeholder="e.g. election-overrefusal")
    publish_rule = c.selectbox("Ensemble rule", list(RULES), format_func=RULES.get, key="build_publish_rule")
    if st.button("Publish", type="primary", key="build_publish",
                 disabled=bool(blocked) or not (publish_source and publish_into)):
        ok, r = auth.attempt(orchestrator.publish, session.db(), publish_source, publish_into.strip(),
                             rule=publish_rule, actor=auth.current_user())
        if ok:
            st.success(f"Published {r['published']:,} of {r['prompts']:,} prompts as {escape_markdown(r['into'])}: "
                       f"{r['from_human']:,} decided by humans, {r['from_ensemble']:,} by the ensemble, "
                       f"{r['left_out']:,} left out.")

# -- what each step made -----------------------------------------------------------------------------
if datasets:
    st.subheader("A sample of each step's output")
    rule = st.segmented_control("Ensemble rule", list(RULES), format_func=RULES.get, default="majority",
                                required=True, key="build_rule")
    for dataset in datasets:
        facts = datasets[dataset]
        with st.expander(f"{dataset} · {facts['step']} · {facts['prompts']:,} prompts", expanded=True):
            sample = cached.sample_outputs(dataset)
            st.dataframe(sample[["prompt", "made_from", "category", "model"]], hide_index=True, width="stretch",
                         key=f"build_sample_{dataset}")
            moderations = cached.moderations(dataset)
            if not moderations.empty:
                figures = moderation.summary(moderations, rule)
                e = figures["ensemble"]
                st.markdown(f"**Moderation** · ensemble ({escape_markdown(RULES[rule])}): {e['toxic']:,} toxic, "
                            f"{e['safe']:,} safe, {e['undecided']:,} undecided of {e['prompts']:,}")
                st.dataframe(pd.DataFrame(figures["moderators"]), hide_index=True, width="stretch",
                             key=f"build_moderators_{dataset}")
