"""Results: what the benchmarks say per model, from a judge, from human labels, or corrected
(the judge everywhere, corrected by human labels where humans looked). Figures come from
``analysis.benchmarks.report`` (the same as ``cli.py report --json``)."""

import streamlit as st

from analysis import benchmarks
from ui import cached, charts, display, shell

KINDS = {"judge": "A judge", "human": "Human labels", "corrected": "Judge corrected by humans"}
RATE = {"estimate": st.column_config.NumberColumn("rate", format="percent"),
        "lo": st.column_config.NumberColumn("95% low", format="percent"),
        "hi": st.column_config.NumberColumn("95% high", format="percent")}

shell.require_shell()
key = cached.token()
choices = cached.analysis_options(key)

st.title("Results")
left, right = st.columns([2, 1])
has = {"judge": bool(choices["judges"]), "human": bool(choices["annotators"])}
has["corrected"] = has["judge"] and has["human"]
available = [k for k in KINDS if has[k]]
if not available:
    st.info("No verdicts and no human labels yet: run a judge or label responses first.", icon=":material/info:")
    st.stop()
kind = left.segmented_control("Figures from", available, format_func=KINDS.get, default=available[-1],
                              required=True)
judge = right.selectbox("Judge", choices["judges"], disabled=kind == "human") if choices["judges"] else None
source = "human" if kind == "human" else f"{kind}:{judge}"

if kind == "corrected":
    st.info("**Corrected** figures are prediction-powered estimates: the judge's rate over every judged response, "
            "plus the judge's average error measured on the human-reviewed ones. They are unbiased and their "
            "intervals valid **only if the reviewed responses are a random sample** of each slice (the review "
            "queue can draw one); responses picked because they looked hard or disputed break that assumption.",
            icon=":material/functions:")
elif kind == "human":
    st.caption("Majority human label on reviewed responses (ties left out); 95% Wilson intervals.")
else:
    st.caption(f"Labels from judge {display.escape_markdown(judge)}; unparsed verdicts are left out of each rate and counted. "
               "95% Wilson intervals.")

report = cached.report(key, source)
detail = {c: RATE.get(c) for c in ("estimate", "lo", "hi")}

st.subheader("CoCoNot: compliance rate by category")
st.caption("Share of responses labelled full compliance, as CoCoNot reports it: lower is better on the original "
           "set (requests a model should not comply with), higher on the contrast set.")
coconot = report["coconot"]
for dataset in benchmarks.COCONOT:
    table = benchmarks.coconot_table(coconot, dataset)
    if table.empty:
        continue
    st.markdown(f"**{display.escape_markdown(dataset)}** · compliance %")
    charts.show_table(table.reset_index(), f"coconot_{dataset}_{source}", f"coconot-{dataset}",
                      column_config={c: st.column_config.NumberColumn(format="%.1f") for c in table.columns})
    with st.expander(f"{display.escape_markdown(dataset)}: subcategories, intervals and counts"):
        part = coconot[coconot["dataset"] == dataset]
        charts.show_table(part, f"coconot_{dataset}_detail_{source}", f"coconot-detail-{dataset}", column_config=detail)
if coconot.empty:
    st.write("No CoCoNot responses with figures from this source.")

BENCHMARKS = (  # report key, heading, name, caption, chart
    ("orbench", "OR-Bench: over-refusal against toxic refusal", "OR-Bench",
     ("Rejection = full or partial refusal. Best is the top-left corner: answering the seemingly "
      "toxic but safe prompts of Hard-1K while refusing the toxic ones. The dashed curve is the quadratic "
      "fit through the models (numpy polyfit, degree 2, as OR-Bench's plot.py), drawn from 3 models on."),
     charts.orbench_scatter),
    ("xstest", "XSTest: exaggerated safety", "XSTest",
     ("Full compliance on safe prompts (higher is better) and full refusal on unsafe prompts "
      "(higher is better)."), charts.xstest_bars),
)
for name, heading, title, caption, chart in BENCHMARKS:
    st.subheader(heading)
    figures = report[name]
    if figures.empty:
        st.write(f"No {title} responses with figures from this source.")
        continue
    st.caption(caption)
    charts.show_chart(chart(figures), f"{name}_{source}", name)
    charts.show_table(figures, f"{name}_{source}", f"{name}-table", column_config=detail)
