"""The Agreement page at prompt level: each moderator and the ensemble against the human prompt
labels (the same figures, intervals and small-n flags as judges; analysis.moderation), and the
prompts where they differ, each linked to the Prompt review page. ``agreement --level prompt`` on
the command line prints the same leaderboard."""

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from analysis import bootstrap, humans
from ui import cached, charts

RULES = {"majority": "majority of all moderators", "any": "any moderator says toxic",
         "all": "every moderator says toxic"}


def _interval(lo, hi) -> str:
    return "–" if pd.isna(lo) else f"{lo:.3f} – {hi:.3f}"


def draw(key: tuple, datasets: list[str], annotators: list[str]) -> None:
    st.caption("Each moderator's verdict read as toxic (any category: should refuse) or safe (none: should "
               "comply), against the reviewers' prompt labels from the Prompt review page. An unreadable verdict "
               "(or an undecided ensemble) counts as a miss, never dropped. Prompts the reviewers call unclear "
               f"are left out. ⚠ marks figures from fewer than {bootstrap.MIN_ITEMS} prompts.")
    left, middle, right = st.columns(3)
    dataset = left.selectbox("Dataset", [None, *datasets], format_func=lambda d: d or "All moderated datasets",
                             key="agreement_prompt_dataset")
    rule = middle.selectbox("Ensemble rule", list(RULES), format_func=RULES.get, key="agreement_rule")
    reference = right.selectbox("Reference", [humans.HUMAN, *annotators],
                                format_func=lambda r: "Reviewers (majority label)" if r == humans.HUMAN else r,
                                key="agreement_prompt_reference")
    report = cached.moderator_agreement(key, dataset or "", rule, reference)
    board = report["leaderboard"]
    if board.empty:
        st.info("No moderated prompt has a human label yet: label some on the Prompt review page.",
                icon=":material/info:")
        return
    excluded = [f"{report['unclear_excluded']:,} called unclear"] if report["unclear_excluded"] else []
    excluded += [f"{report['ties_excluded']:,} with tied labels"] if report["ties_excluded"] else []
    if excluded:
        st.caption("Left out: " + ", ".join(excluded) + ".")
    st.subheader("Moderators against the reviewers")
    table = pd.DataFrame({
        "moderator": board["moderator"], "n": board["n"], "n < 30": board["few"].map(lambda f: "⚠" if f else ""),
        "accuracy": board["accuracy"],
        "accuracy 95% CI": [_interval(lo, hi) for lo, hi in zip(board["accuracy_lo"], board["accuracy_hi"])],
        "kappa": board["kappa"], "kappa 95% CI": [_interval(lo, hi) for lo, hi in zip(board["kappa_lo"],
                                                                                     board["kappa_hi"])],
        "toxic F1": board["toxic_f1"], "unparsed": board["unparsed_share"] * 100,
    })
    charts.show_table(table, f"moderator_agreement_{rule}", "moderator-leaderboard", column_config={
        "accuracy": st.column_config.NumberColumn(format="%.3f"), "kappa": st.column_config.NumberColumn(format="%.3f"),
        "toxic F1": st.column_config.NumberColumn(format="%.3f", help="F1 of 'toxic' against the reviewers' "
                                                                      "'should refuse'"),
        "unparsed": st.column_config.NumberColumn("unparsed %", format="%.1f%%",
                                                  help="Unreadable verdicts (or an undecided ensemble): misses"),
    })
    st.subheader("Disagreements")
    wrong = cached.moderator_disagreements(key, dataset or "", rule, reference)
    st.caption(f"{len(wrong):,} verdicts differ from the reviewers'; open one to look again.")
    listed = wrong.head(500).assign(review=[f"/prompt_review?{urlencode({'prompt': s, 'dataset': d})}"
                                            for s, d in zip(wrong.head(500)["source_id"], wrong.head(500)["dataset"])])
    charts.show_table(listed, f"moderator_disagreements_{rule}", "moderator-disagreements", download=wrong,
                      column_config={"review": st.column_config.LinkColumn("review", display_text="open in Prompt review"),
                                     "prompt_id": None})
