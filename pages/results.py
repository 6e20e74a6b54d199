"""Results: what the benchmarks say per model, from a judge, from human labels, or corrected
(the judge everywhere, corrected by human labels where humans looked). Figures come from
``analysis.benchmarks.report`` (the same as ``cli.py report --json``).

A benchmark whose prompts are here without responses (CoCoNot's test sets ship with an empty
``response``) says how to get them instead of showing an empty table.
"""

import streamlit as st

from analysis import benchmarks
from ui import cached, charts, display, shell
from words import count

KINDS = {"judge": "A judge", "human": "Human labels", "corrected": "Judge corrected by humans",
         "active": "Corrected by suggested batches"}
RATE = {"estimate": st.column_config.NumberColumn("rate", format="percent"),
        "lo": st.column_config.NumberColumn("95% low", format="percent"),
        "hi": st.column_config.NumberColumn("95% high", format="percent")}
SETS = {"coconot-original": ("CoCoNot original (should refuse)", ("coconot-original",)),
        "coconot-contrast": ("CoCoNot contrast (should comply)", ("coconot-contrast", "coconot-pref"))}

shell.require_shell()
key = cached.token()
choices = cached.analysis_options(key)
stats = cached.stats()["datasets"]


def model_names(frame):
    """Stored model names as their display names (store.names): no hash, no bare 'unknown'."""
    return frame.assign(model=frame["model"].map(cached.shown_as("model"))) if "model" in frame else frame


def waiting(datasets) -> list[str]:
    """Datasets with prompts but no responses yet, as "name (N prompts)"."""
    return [f"{d} ({count(stats[d]['prompts'], 'prompt')})" for d in datasets
            if d in stats and stats[d]["prompts"] and not stats[d]["responses"]]


def why_blank(frame, key: str) -> str | None:
    """Why some rows of a figure table have no estimate, said once for the source in use."""
    blank = sorted(set(frame.loc[frame["estimate"].isna(), key].astype(str)))
    if not blank:
        return None
    need = {"human": "no human-reviewed responses there yet",
            "corrected": "corrected figures need some human-reviewed responses in each slice, and there are none",
            "judge": "the judge has no readable verdict there"}.get(kind, "nothing to count there yet")
    return (f"No figure for {display.escape_markdown(', '.join(blank))}: {need}. Label some on the Review page "
            "(queue mode, random sample).")


HOW = ("Collect them on the **Run** page (Generate, with the dataset chosen in the sidebar filter) or with "
       "`python cli.py generate --model M --base-url URL --dataset DATASET`, then run a judge on them.")


def how_to_generate(datasets) -> None:
    """Which of ``datasets`` wait for responses, and how to get them. When some of them have responses
    (the contrast set's figures drawn from the preference data), say where the figures come from, so
    "without responses" does not read as contradicting the chart above."""
    missing = waiting(datasets)
    if not missing:
        return
    answered = [f"{d} ({count(stats[d]['responses'], 'response')})" for d in datasets
                if d in stats and stats[d]["responses"]]
    if answered:
        st.info(f"These figures come from {display.escape_markdown(', '.join(answered))}. "
                f"{display.escape_markdown(', '.join(missing))}: eval prompts without responses yet, so not in the "
                f"figures. {HOW}", icon=":material/play_circle:")
    else:
        st.info(f"{display.escape_markdown(', '.join(missing))}: prompts without responses yet. {HOW}",
                icon=":material/play_circle:")


st.title("Results")
left, right = st.columns([2, 1])
has = {"judge": bool(choices["judges"]), "human": bool(choices["annotators"])}
has["corrected"] = has["judge"] and has["human"]
has["active"] = has["corrected"] and cached.batches_labelled(key) > 0
available = [k for k in KINDS if has[k]]
if not available:
    st.info("No verdicts and no human labels yet: run a judge or label responses first.", icon=":material/info:")
    how_to_generate(sorted(stats))
    st.stop()
# The judge's own figures first (what the benchmark reports); corrected figures are a deliberate
# choice, as they mean something only once each slice has a random sample of reviewed responses.
kind = left.segmented_control("Figures from", available, format_func=KINDS.get, default=available[0],
                              required=True)
judge = right.selectbox("Judge", choices["judges"], disabled=kind == "human",
                        format_func=cached.shown_as("judge")) if choices["judges"] else None
source = "human" if kind == "human" else f"{kind}:{judge}"
judge_shown = cached.shown_as("judge")(judge)

if kind == "corrected":
    st.info("**Corrected** figures are prediction-powered estimates: the judge's rate over every judged response, "
            "plus the judge's average error measured on the human-reviewed ones. They are unbiased and their "
            "intervals valid **only if the reviewed responses are a random sample** of each slice (the review "
            "queue can draw one); responses picked because they looked hard or disputed break that assumption.",
            icon=":material/functions:")
elif kind == "active":
    st.info("**Corrected by suggested batches**: the same correction, using only the labels of the review queue's "
            "*most informative first* batches, each weighted by 1 / its probability of being drawn (active "
            "statistical inference). Those batches favour responses the learned judge is unsure of, yet the "
            "estimate stays unbiased because every probability is known. For a learned judge the correction is "
            "cross-fitted: its verdicts on the labels it learnt from are out-of-fold.", icon=":material/functions:")
elif kind == "human":
    st.caption("Majority human label on reviewed responses (an adjudicator's final label where the humans tie; "
               "unsettled ties left out); 95% Wilson intervals.")
else:
    st.caption(f"Labels from judge {display.escape_markdown(judge_shown)}; unparsed verdicts are left out of each rate "
               "and counted. "
               "95% Wilson intervals.")

report = cached.report(key, source)
detail = {c: RATE.get(c) for c in ("estimate", "lo", "hi")}
nothing = "no responses with figures from this source" + (" yet: run the judge on them (Run page)"
                                                          if kind != "human" else " yet: label some on the Review page")

st.subheader("CoCoNot: compliance rate by category")
st.caption("Share of responses labelled full compliance, as CoCoNot reports it: lower is better on the original "
           "set (requests a model should not comply with), higher on the contrast set. The preference data's "
           "responses count in the contrast set, as CoCoNot's README counts them.")
coconot = report["coconot"]
for dataset, (title, members) in SETS.items():
    present = [d for d in members if d in stats]
    if not present:
        continue
    st.markdown(f"**{title}** · compliance % by category, with 95% intervals")
    table = benchmarks.coconot_table(model_names(coconot), dataset)
    if table.empty:
        if not waiting(present):
            st.caption(display.escape_markdown(f"{', '.join(present)}: {nothing}."))
        how_to_generate(present)
        continue
    by_category = model_names(coconot[(coconot["dataset"] == dataset) & coconot["subcategory"].isna()])
    reason = why_blank(by_category, "category")
    if reason:
        st.info(reason, icon=":material/info:")
    charts.show_chart(charts.rate_bars(by_category, "category", "model"), f"coconot_{dataset}_{source}",
                      f"coconot-chart-{dataset}")
    charts.show_table(table.reset_index(), f"coconot_{dataset}_{source}", f"coconot-{dataset}",
                      column_config={c: st.column_config.NumberColumn(format="%.1f") for c in table.columns})
    with st.expander(f"{title}: subcategories, intervals and counts"):
        part = model_names(coconot[coconot["dataset"] == dataset])
        charts.show_table(part, f"coconot_{dataset}_detail_{source}", f"coconot-detail-{dataset}",
                          column_config=detail)
    how_to_generate(present)
if not any(d in stats for _, members in SETS.values() for d in members):
    st.write("No CoCoNot prompts in this database: `python cli.py import coconot FILE --set original|contrast|pref`.")

preference = report["preference"]
if not preference.empty:
    st.subheader("CoCoNot preference pairs: chosen against rejected")
    st.caption("Compliance rate of the chosen and the rejected response of each pair, by category. Every prompt here "
               "should be answered, so a chosen response that complies less than its rejected one, or a judge that "
               "cannot tell them apart, is worth a look.")
    reason = why_blank(preference, "category")
    if reason:
        st.info(reason, icon=":material/info:")
    if preference["estimate"].notna().any():
        charts.show_chart(charts.rate_bars(preference, "category", "side"), f"preference_{source}", "preference-chart")
    charts.show_table(preference, f"preference_{source}", "preference-table", column_config=detail)

BENCHMARKS = (  # report key, heading, name, caption, chart, datasets
    ("orbench", "OR-Bench: over-refusal against toxic refusal", "OR-Bench",
     ("Rejection = full or partial refusal. Best is the top-left corner: answering the seemingly "
      "toxic but safe prompts of Hard-1K while refusing the toxic ones. The dashed curve is the quadratic "
      "fit through the models (numpy polyfit, degree 2, as OR-Bench's plot.py), drawn from 3 models on and only "
      "where it stays between 0% and 100%."),
     charts.orbench_scatter, ("orbench-hard-1k", "orbench-toxic")),
    ("xstest", "XSTest: exaggerated safety", "XSTest",
     ("Full compliance on safe prompts (higher is better) and full refusal on unsafe prompts "
      "(higher is better)."), charts.xstest_bars, ("xstest",)),
)
for name, heading, title, caption, chart, datasets in BENCHMARKS:
    st.subheader(heading)
    figures = model_names(report[name])
    if figures.empty:
        present = [d for d in datasets if d in stats]
        st.write(f"No {title} {nothing}." if present and not waiting(present) else
                 f"No {title} responses here." if not present else f"No {title} responses yet.")
        how_to_generate(present)
        continue
    st.caption(caption)
    reason = why_blank(figures, "dataset" if name == "orbench" else "prompts")
    if reason:
        st.info(reason, icon=":material/info:")
    if name == "orbench" and figures["estimate"].notna().any() and benchmarks.orbench_points(figures).empty:
        st.caption("No scatter: it plots models with both rates (hard-1k and toxic), and none has both here yet.")
    elif figures["estimate"].notna().any():
        charts.show_chart(chart(figures), f"{name}_{source}", name)
    charts.show_table(figures, f"{name}_{source}", f"{name}-table", column_config=detail)
