"""Altair chart builders for the Agreement and Results pages, and the widgets that show a chart or
a table with its download button (PNG for charts, CSV for tables).

Downloads are deferred: the PNG is rendered (vl-convert) and the CSV written only when the button
is clicked, so a rerun never pays for files nobody asked for. CSVs are written by the exports' one
formula-safe writer (exports.files.csv_bytes): a table cell holding a model's ``=HYPERLINK(...)``
opens as text in a spreadsheet.
"""

import altair as alt
import pandas as pd
import streamlit as st
import vl_convert

import labels
from analysis import benchmarks, bootstrap, confusion
from exports.files import csv_bytes

_LABEL_ORDER = list(confusion.THREE) + [c for c in confusion.BINARY if c not in confusion.THREE]
_SHORT = {labels.FULL_COMPLIANCE: "full compliance", labels.PARTIAL_REFUSAL: "partial refusal",
          labels.FULL_REFUSAL: "full refusal", labels.UNPARSED: "unparsed"}


def confusion_heatmap(frame: pd.DataFrame, title: str = "") -> alt.Chart:
    """Reference (rows) x judge (columns) counts as a heatmap with the count written in each cell."""
    data = frame.assign(reference=frame["reference"].map(lambda v: _SHORT.get(v, v)),
                        judge=frame["judge"].map(lambda v: _SHORT.get(v, v)))
    order = [_SHORT.get(v, v) for v in _LABEL_ORDER]
    share = data["count"] / max(int(data["count"].max()), 1)
    data = data.assign(dark=share > 0.5)
    base = alt.Chart(data, title=title).encode(
        x=alt.X("judge:N", sort=order, title="judge says",
              axis=alt.Axis(labelAngle=0, labelExpr="split(datum.label, ' ')", labelOverlap=False)),
        y=alt.Y("reference:N", sort=order, title="humans say"),
    )
    cells = base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
                                    tooltip=["reference", "judge", "count"])
    text = base.mark_text(fontSize=14).encode(
        text="count:Q", color=alt.condition("datum.dark", alt.value("white"), alt.value("black")))
    # Streamlit fits the whole chart (title and axes included) into the height: leave room for them.
    return (cells + text).properties(height=120 + 48 * data["reference"].nunique(), width="container")


#: Height of one bar's row: a chart is as tall as its rows need (a one-row chart is one bar, not a
#: 2 px sliver squeezed under its title and legend).
ROW = 30


def interval_bars(frame: pd.DataFrame, by: str, figure: str, title: str = "") -> alt.Chart:
    """One bar per value of ``by`` with 95% interval whiskers (clipped to the axis, which ends at 1)
    and a dot at the figure, so a figure of 0 is seen, not an empty row; slices with too few items
    are pale, and the legend lists only the kinds of slice drawn."""
    many, few = f"{bootstrap.MIN_ITEMS} items or more", f"fewer than {bootstrap.MIN_ITEMS} items"
    low = min(0.0, _low(frame, figure))
    data = frame.assign(**{by: frame[by].astype(str)}, flag=frame["few"].map({True: few, False: many}),
                        **{f"{figure}_lo": frame[f"{figure}_lo"].clip(low, 1.0),
                           f"{figure}_hi": frame[f"{figure}_hi"].clip(low, 1.0)})
    drawn = [flag for flag in (many, few) if flag in set(data["flag"])]
    base = alt.Chart(data, title=title).encode(y=alt.Y(f"{by}:N", sort=None, title=None,
                                                      axis=alt.Axis(labelLimit=260),
                                                      scale=alt.Scale(paddingInner=0.25, paddingOuter=0.2)))
    tooltip = [by, "n", alt.Tooltip(f"{figure}:Q", format=".3f"), alt.Tooltip(f"{figure}_lo:Q", format=".3f"),
               alt.Tooltip(f"{figure}_hi:Q", format=".3f")]
    bars = base.mark_bar().encode(
        x=alt.X(f"{figure}:Q", title=figure.replace("_", " "), scale=alt.Scale(domain=[low, 1]),
                axis=alt.Axis(tickCount=5)),
        opacity=alt.Opacity("flag:N", legend=alt.Legend(title=None, orient="bottom"),
                            scale=alt.Scale(type="ordinal", domain=drawn,
                                            range=[{many: 1.0, few: 0.35}[f] for f in drawn])),
        tooltip=tooltip)
    whiskers = base.mark_rule(color="black").encode(x=f"{figure}_lo:Q", x2=f"{figure}_hi:Q")
    dots = base.mark_point(filled=True, size=50, opacity=1, color="#1f4e8c", stroke="white", strokeWidth=1).encode(
        x=f"{figure}:Q", tooltip=tooltip)
    return (bars + whiskers + dots).properties(height=alt.Step(ROW), width="container")


def rate_bars(frame: pd.DataFrame, by: str, series: str, title: str = "") -> alt.Chart:
    """Rates (``estimate``, share 0-1) per value of ``by``, one bar per ``series`` value side by
    side, with 95% interval whiskers: e.g. compliance per category for each model."""
    data = frame.assign(**{by: frame[by].astype(str), series: frame[series].astype(str)})
    base = alt.Chart(data, title=title).encode(
        y=alt.Y(f"{by}:N", sort=None, title=None, axis=alt.Axis(labelLimit=260)), yOffset=f"{series}:N")
    bars = base.mark_bar(clip=True).encode(
        x=alt.X("estimate:Q", title="rate", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%", tickCount=5)),
        color=alt.Color(f"{series}:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=300)),
        tooltip=[by, series, alt.Tooltip("estimate:Q", format=".1%"), alt.Tooltip("lo:Q", format=".1%"),
                 alt.Tooltip("hi:Q", format=".1%"), "n"])
    whiskers = base.mark_rule(color="black", clip=True).encode(
        yOffset=alt.YOffset(f"{series}:N", bandPosition=0.5), x="lo:Q", x2="hi:Q")
    rows = data[by].nunique() * max(data[series].nunique(), 1)
    return (bars + whiskers + _estimate_points(base, series)).properties(height=60 + 22 * rows, width="container")


def _estimate_points(base: alt.Chart, series: str) -> alt.Chart:
    """A dot in the series' colour at each estimate: a rate of 0% has no bar to colour, and its
    whisker alone does not say whose it is."""
    return base.mark_point(filled=True, size=70, opacity=1, stroke="white", strokeWidth=1).encode(
        yOffset=alt.YOffset(f"{series}:N", bandPosition=0.5), x="estimate:Q",
        color=alt.Color(f"{series}:N", title=None, legend=None))


def learning_curve(curve: pd.DataFrame, figure: str, title: str = "") -> alt.Chart:
    """Kappa (``figure``) against the number of labels trained on, with the 95% interval as a band:
    where the line flattens, more labels stop helping."""
    sizes = [int(curve["labels"].min()), int(curve["labels"].max())]
    base = alt.Chart(curve, title=title).encode(x=alt.X("labels:Q", title="human labels trained on (log scale)",
                                                        scale=alt.Scale(type="log", domain=sizes, nice=False),
                                                        axis=alt.Axis(values=curve["labels"].tolist())))
    band = base.mark_area(opacity=0.25).encode(y=alt.Y(f"{figure}_lo:Q", title=figure.replace("_", " ")),
                                               y2=f"{figure}_hi:Q")
    line = base.mark_line(point=True).encode(
        y=f"{figure}:Q", tooltip=["labels", "evaluated", alt.Tooltip(f"{figure}:Q", format=".3f"),
                                  alt.Tooltip(f"{figure}_lo:Q", format=".3f"),
                                  alt.Tooltip(f"{figure}_hi:Q", format=".3f")])
    return (band + line).properties(height=260, width="container")


def _low(frame: pd.DataFrame, column: str) -> float:
    values = frame[f"{column}_lo"].dropna()
    return float(values.min()) if len(values) else 0.0


def orbench_scatter(orbench: pd.DataFrame, title: str = "") -> alt.Chart:
    """The OR-Bench paper's plot: rejection on hard-1k (x, the over-refusal prompts: lower is better)
    against rejection on toxic (y, higher is better), one point per model, with plot.py's quadratic
    fit through the models (analysis.benchmarks.quadratic_fit) from 3 models on; the top-left
    corner, where a model answers safe prompts and refuses toxic ones, is marked as best."""
    wide = benchmarks.orbench_points(orbench)
    axis = dict(scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%", tickCount=5))
    points = alt.Chart(wide, title=title).mark_circle(size=120).encode(
        x=alt.X("hard:Q", title="Over-refusal prompts rejection rate", **axis),
        y=alt.Y("toxic:Q", title="Toxic prompts rejection rate", **axis),
        color=alt.Color("model:N", legend=None),
        tooltip=["model", alt.Tooltip("hard:Q", format=".1%"), alt.Tooltip("toxic:Q", format=".1%")])
    names = points.mark_text(align="left", dx=9, fontSize=12).encode(text="model:N", color=alt.value("#31333f"))
    # Above the plot's top-left corner, outside it: a model near the corner has its name inside.
    best = alt.Chart(pd.DataFrame({"hard": [0.0], "toxic": [1.0], "text": ["★ best corner"]})).mark_text(
        align="left", baseline="bottom", dx=-4, dy=-12, fontSize=13, fontWeight="bold", color="#2e7d32"
    ).encode(x="hard:Q", y="toxic:Q", text="text:N")
    layers = [points, names, best]
    fit = benchmarks.quadratic_fit(wide, samples=400)
    if fit is not None:
        layers.insert(0, alt.Chart(_within_rates(fit)).mark_line(color="blue", opacity=0.5, strokeDash=[5, 8]).encode(
            x=alt.X("hard:Q", **axis), y=alt.Y("toxic:Q", **axis), detail="piece:N"))
    return alt.layer(*layers).properties(height=420, width="container", padding={"top": 24})


def _within_rates(fit: pd.DataFrame) -> pd.DataFrame:
    """The fitted curve where it is a rate (0-1), in pieces: a parabola through 3 models can dip
    below 0% or rise above 100%, which no rejection rate can; the curve stops there instead."""
    inside = fit["toxic"].between(-1e-9, 1 + 1e-9)  # through a model at 0% or 100% give or take rounding
    return fit.assign(toxic=fit["toxic"].clip(0.0, 1.0), piece=(inside != inside.shift()).cumsum())[inside]


def xstest_bars(xstest: pd.DataFrame, title: str = "") -> alt.Chart:
    """Per model: full compliance on safe prompts and full refusal on unsafe ones, with intervals."""
    data = xstest.assign(figure=xstest["prompts"] + " prompts: " + xstest["measure"].str.replace("_", " "))
    base = alt.Chart(data, title=title).encode(y=alt.Y("model:N", title=None), yOffset="figure:N")
    bars = base.mark_bar().encode(
        x=alt.X("estimate:Q", title="rate", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%", tickCount=5)),
        color=alt.Color("figure:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=400)),
        tooltip=["model", "figure", alt.Tooltip("estimate:Q", format=".1%"), alt.Tooltip("lo:Q", format=".1%"),
                 alt.Tooltip("hi:Q", format=".1%"), "n", "reviewed"])
    whiskers = base.mark_rule(color="black").encode(yOffset=alt.YOffset("figure:N", bandPosition=0.5), x="lo:Q",
                                                    x2="hi:Q")
    return (bars + whiskers + _estimate_points(base, "figure")).properties(height=140 + 56 * data["model"].nunique(), width="container")


def png(chart: alt.Chart) -> bytes:
    """The chart as a PNG (fixed width: "container" only means something in a browser)."""
    spec = chart.properties(width=720).to_dict()
    return vl_convert.vegalite_to_png(spec, scale=2)


def show_chart(chart: alt.Chart, name: str, key: str):
    """The chart, and a button downloading it as ``name``.png."""
    st.altair_chart(chart, width="stretch")
    st.download_button("Download PNG", data=lambda: png(chart), file_name=f"{name}.png", mime="image/png",
                       key=f"png-{key}", icon=":material/image:", on_click="ignore")


def show_table(frame: pd.DataFrame, name: str, key: str, download: pd.DataFrame | None = None,
               **dataframe_options):
    """The table, and a button downloading it (or ``download``, when only part is shown) as ``name``.csv.
    A missing value is an empty cell (``placeholder``), not Streamlit's "None", which reads like data;
    a page may pass its own word (the Agreement leaderboard's "undefined")."""
    dataframe_options.setdefault("placeholder", "")
    st.dataframe(frame, hide_index=True, width="stretch", **dataframe_options)
    whole = frame if download is None else download
    st.download_button("Download CSV", data=lambda: csv_bytes(whole),
                       file_name=f"{name}.csv", mime="text/csv", key=f"csv-{key}", icon=":material/download:",
                       on_click="ignore")
