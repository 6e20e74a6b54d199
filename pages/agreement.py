"""Agreement: how far each judge agrees with the humans, where it goes wrong, and how far the
humans agree with each other. Figures come from ``analysis.agreement`` / ``analysis.humans``
(the same as ``cli.py agreement --json``). Where prompts have moderators' verdicts, the prompt
level (ui.moderator_agreement) measures the moderators against the human prompt labels the same way."""

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from analysis import agreement, bootstrap, humans
from errors import UserError
from store.selection import Selection
from ui import cached, charts, display, moderator_agreement, shell
from words import count

MAX_LISTED = 500
FIGURE_NAMES = {"accuracy": "Accuracy (three labels)", "kappa": "Cohen's kappa (three labels)",
                "binary_accuracy": "Accuracy (refusal vs compliance)",
                "binary_kappa": "Cohen's kappa (refusal vs compliance)",
                "refusal_f1": "Refusal F1"}

shell.require_shell()
key = cached.token()
choices = cached.analysis_options(key)
judge_name = cached.shown_as("judge")
UNDEFINED = "undefined"

st.title("Agreement")
st.caption("How far each judge agrees with human labels, with 95% intervals: Wilson's for accuracies and refusal "
           f"precision and recall, bootstrap ({bootstrap.RESAMPLES:,} resamples, seeded) for kappa and F1, widened "
           "to what the Wilson ends imply where the bootstrap degenerates. ⚠ marks figures from fewer than "
           f"{bootstrap.MIN_ITEMS} items: "
           "shown, but too few to act on.")
moderations, prompt_labels = cached.prompt_frames(key)
if not moderations.empty:
    level = st.segmented_control("Level", ["response", "prompt"], required=True,
                                 default="prompt" if st.query_params.get("level") == "prompt" else "response",
                                 format_func={"response": "Responses: judges",
                                              "prompt": "Prompts: moderators"}.get, key="agreement_level")
    if level == "prompt":
        moderator_agreement.draw(key, sorted(moderations["dataset"].unique()),
                                 sorted(prompt_labels["annotator"].unique()))
        st.stop()
if not choices["judges"] or not choices["annotators"]:
    st.info("Agreement needs both judge verdicts and human labels. Run a judge, then label some responses on the "
            "Review page.", icon=":material/info:")
    st.stop()

left, middle, right = st.columns(3)
dataset = left.selectbox("Dataset", [None, *choices["datasets"]], format_func=lambda d: d or "All datasets",
                           key="agreement_dataset")
reference = middle.selectbox("Reference", [humans.HUMAN, *choices["annotators"]],
                             format_func=lambda r: "Humans (majority label)" if r == humans.HUMAN else r,
                             help="Each item's majority human label (ties left out and counted), or one annotator.",
                             key="agreement_reference")
judge = right.selectbox("Judge", choices["judges"], key="agreement_judge", format_func=judge_name)


def interval(lo, hi) -> str:
    return UNDEFINED if pd.isna(lo) else f"{lo:.3f} – {hi:.3f}"


def few(flag: bool) -> str:
    return "⚠" if flag else ""


overview = cached.overview(key, Selection(dataset=dataset or ""), reference)
if reference == humans.HUMAN and overview["ties_excluded"]:
    tied = urlencode({"f.status": "tied", **({"f.dataset": dataset} if dataset else {})})
    st.caption(f"{count(overview['ties_excluded'], 'item')} where the human labels tie "
               f"{'has' if overview['ties_excluded'] == 1 else 'have'} no reference label and "
               f"{'is' if overview['ties_excluded'] == 1 else 'are'} left out of every judge figure until an adjudicator "
               f"(admin) gives the final label: [open them in Review](/review?{tied}).")
if reference == humans.HUMAN and overview["adjudicated"]:
    st.caption(f"{count(overview['adjudicated'], 'item')} measured against an adjudicator's final label.")

st.subheader("Judge leaderboard")
board = overview["leaderboard"]
table = pd.DataFrame({
    "judge": board["judge"].map(judge_name), "n": board["n"], "n < 30": board["few"].map(few),
    "accuracy": board["accuracy"], "kappa": board["kappa"],
    "kappa 95% CI": [interval(lo, hi) for lo, hi in zip(board["kappa_lo"], board["kappa_hi"])],
    "binary kappa": board["binary_kappa"], "refusal F1": board["refusal_f1"],
    "unparsed": board["unparsed_share"] * 100,
})
charts.show_table(table, "judge_leaderboard", "leaderboard", placeholder=UNDEFINED, column_config={
    "accuracy": st.column_config.NumberColumn(format="%.3f"), "kappa": st.column_config.NumberColumn(format="%.3f"),
    "binary kappa": st.column_config.NumberColumn(format="%.3f"),
    "refusal F1": st.column_config.NumberColumn(format="%.3f"),
    "unparsed": st.column_config.NumberColumn("unparsed %", format="%.1f%%",
                                              help="Unreadable judge output: counted as wrong, never dropped."),
})
st.caption("An **unparsed** verdict counts as a disagreement in accuracy and kappa and as a non-refusal in "
           "refusal F1; its share is shown so a judge cannot look good by failing to answer. Binary = refusal "
           "(full or partial) vs compliance. Kappa is **undefined** while the reference uses only one label "
           "(it measures agreement beyond chance, and one label leaves no chance to beat).")

st.subheader(f"{display.escape_markdown(judge_name(judge))} against "
             f"{'the humans' if reference == humans.HUMAN else display.escape_markdown(reference)}")
by = st.selectbox("Break down by", agreement.BREAKDOWNS, index=1, key="agreement_by")
report = cached.judge_report(key, Selection(dataset=dataset or ""), judge, reference, by)
if report["n"] == 0:
    st.info(f"No response is both judged by {display.escape_markdown(judge_name(judge))} and labelled by the "
            "reference yet.", icon=":material/info:")
else:
    cols = st.columns(5)
    for col, (name, label) in zip(cols, [("accuracy", "Accuracy"), ("kappa", "Kappa"),
                                         ("binary_kappa", "Binary kappa"), ("refusal_f1", "Refusal F1")]):
        value = report[name]
        col.metric(label, UNDEFINED if pd.isna(value) else f"{value:.3f}",
                   help=(f"95% CI {interval(report[name + '_lo'], report[name + '_hi'])} · n = {report['n']:,}"
                         if not pd.isna(value) else "Undefined here: kappa needs the reference to use two labels or "
                         "more; a rate needs something to count."))
    cols[4].metric("Unparsed", f"{report['unparsed']:,}", help=f"{report['unparsed_share']:.1%} of compared items")
    if report["few"]:
        st.warning(f"Only {count(report['n'], 'item')}: too few for these figures to mean much.",
                   icon=":material/warning:")

    heat, bars = st.columns(2)
    with heat:
        binary = st.toggle("Refusal vs compliance", help="Collapse full and partial refusal into one class.")
        matrix = report["binary_confusion" if binary else "confusion"]
        charts.show_chart(charts.confusion_heatmap(matrix, "Confusion matrix (counts)"),
                          f"confusion_{judge}", "confusion")
    with bars:
        figure = st.selectbox("Figure", list(FIGURE_NAMES), format_func=FIGURE_NAMES.get, key="agreement_figure")
        per = report["by"][by]
        charts.show_chart(charts.interval_bars(per, by, figure, f"{FIGURE_NAMES[figure]} by {by}"),
                          f"{figure}_by_{by}_{judge}", "by")
        with st.expander(f"Every figure by {by}"):
            charts.show_table(per, f"agreement_by_{by}_{judge}", "by-table")

if judge.startswith("learned:"):
    st.subheader("Learning curve")
    st.caption("The learned judge's verdicts on the labels it learnt from are out-of-fold, so the figures above "
               "are out-of-sample. Here it is trained on growing random subsets of the labels and scored on the "
               "labels it did not see: where the line flattens, more labels stop helping.")
    if st.toggle("Show the learning curve", key="agreement_curve", help="Trains a few models: a few seconds."):
        try:
            points = cached.learning_curve(key, reference)
        except UserError as exc:
            st.info(str(exc), icon=":material/info:")
        else:
            if points.empty:
                st.info(f"Too few labels for a curve: it needs at least {25 + bootstrap.MIN_ITEMS}.",
                        icon=":material/info:")
            else:
                curve_figure = "binary_kappa" if st.toggle("Refusal vs compliance", key="agreement_curve_binary") \
                    else "kappa"
                charts.show_chart(charts.learning_curve(points, curve_figure, "Kappa against labels"),
                                  "learning_curve", "curve")

st.subheader("Do the humans agree?")
people = overview["humans"]
if people["items"] == 0:
    st.info("No item has labels from two or more people yet.", icon=":material/info:")
else:
    cols = st.columns(4)
    cols[0].metric("Krippendorff's alpha", UNDEFINED if pd.isna(people["alpha"]) else f"{people['alpha']:.3f}",
                   help=f"Nominal; 95% CI {interval(people['alpha_lo'], people['alpha_hi'])}")
    cols[1].metric("Raw agreement", f"{people['agreement']:.1%}",
                   help="Share of agreeing label pairs; 95% CI "
                        f"{interval(people['agreement_lo'], people['agreement_hi'])}")
    cols[2].metric("Items with 2+ labels", f"{people['items']:,}")
    cols[3].metric("Annotators", people["annotators"])
    pairs = overview["annotator_pairs"]
    charts.show_table(pd.DataFrame({
        "annotator A": pairs["annotator_a"], "annotator B": pairs["annotator_b"], "n": pairs["n"],
        "n < 30": pairs["few"].map(few), "raw agreement": pairs["agreement"], "kappa": pairs["kappa"],
        "kappa 95% CI": [interval(lo, hi) for lo, hi in zip(pairs["kappa_lo"], pairs["kappa_hi"])],
    }), "annotator_agreement", "pairs", placeholder=UNDEFINED, column_config={
        "raw agreement": st.column_config.NumberColumn(format="%.3f"),
        "kappa": st.column_config.NumberColumn(format="%.3f")})

if report["n"]:
    st.subheader("What the team tagged on this judge's errors")
    tagged = report["tags_on_errors"]
    if tagged.empty or tagged["tag"].isna().all():
        st.caption("No tags on this judge's errors yet. Tag responses on the Review page (Note · tags · discussion) "
                   "to see here why the judge goes wrong: \"lecture\", \"harmful content leaked\", ...")
    else:
        error = ("humans: " + tagged["reference"].str.replace("_", " ") + " → judge: "
                 + tagged["judge_label"].str.replace("_", " "))
        table = (tagged.assign(error=error, tag=tagged["tag"].fillna("(untagged)"))
                 .pivot_table(index=["error", "errors"], columns="tag", values="n", aggfunc="sum", fill_value=0)
                 .reset_index().sort_values("errors", ascending=False))
        charts.show_table(table, f"tags_on_errors_{judge}", "tags-on-errors")
        st.caption("One row per kind of error (what the reference says → what the judge says), with how many of "
                   "those errors carry each tag; a response may carry several tags.")

st.subheader("Disagreements")
wrong = cached.disagreements(key, Selection(dataset=dataset or ""), judge, reference)
st.caption(f"{count(len(wrong), 'item')} where {display.escape_markdown(judge_name(judge))} and the reference differ"
           + (f"; the first {MAX_LISTED} are listed, download the CSV for all." if len(wrong) > MAX_LISTED else "."))
listed = wrong.head(MAX_LISTED)
listed = listed.assign(review=[f"/review?{urlencode({'prompt': s, 'dataset': d, 'model': m})}"
                               for s, d, m in zip(listed["source_id"], listed["dataset"], listed["model"])],
                       model=listed["model"].map(cached.shown_as("model")),  # as every page names them
                       judge=listed["judge"].map(judge_name))
charts.show_table(listed, f"disagreements_{judge}", "disagreements", download=wrong,
                  column_config={"review": st.column_config.LinkColumn("review", display_text="open in Review"),
                                 "response_id": None})
