"""Learned-judge bench on real human labels (gptfuzz, ../shared/data/gptfuzz): the learning curve,
random labels against labels the review queue asks for, and speed at 100,000 responses.

    python bench/learned_bench.py [--sets 5] [--items 100000] [--labels 1000]

Labels are drawn from responses_labeled_train.csv (80 questions); kappa is measured on
responses_labeled_evaluate.csv (20 other questions), which was never used to choose a feature or
setting (those were tuned on a split of the training file alone). gptfuzz labels whether a response
gives the harmful content (1) or not (0): compliance vs refusal, so the judge is binary and kappa
is binary kappa. Targets (issue 15): 300 random labels -> kappa >= 0.80 and 100 -> >= 0.70
(median over label sets); 150 labels taken from the queue in batches of 50 >= what 300 random give;
train on 1,000 labels and label 100,000 responses in under 30 s. The machine is shared: the load
average is printed beside the timings, and CPU seconds with them.
"""

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import labels  # noqa: E402
from analysis import active, learning_curve  # noqa: E402
from judges import learned, rules  # noqa: E402

DATA = Path(os.environ.get("REFUSAL_REVIEW_SHARED_DATA", ROOT.parent / "shared" / "data")) / "gptfuzz"
SIZES = (100, 300, 1000)
BATCH, BATCHES = 50, 3


def load(name: str) -> pd.DataFrame:
    questions = pd.read_csv(DATA / "question_list.csv").set_index("index")["text"]
    raw = pd.read_csv(DATA / name)
    return pd.DataFrame({"response_id": name[:-4] + ":" + raw.index.astype(str), "model": "gpt-3.5-turbo",
                         "category": raw["question"].astype(str), "prompt": raw["question"].map(questions),
                         "response": raw["Response"],
                         "label": np.where(raw["label"] == 1, labels.FULL_COMPLIANCE, labels.FULL_REFUSAL)})


def predictor(ruleset):
    def predict(train: pd.DataFrame, test: pd.DataFrame):
        return learned.fit(train, ruleset=ruleset).label(test)["label"]
    return predict


def curve_table(train, evaluate, ruleset, sets: int) -> dict:
    """Median binary kappa over ``sets`` random label sets per size; returns {size: median}."""
    runs = [learning_curve.learning_curve(train, predictor(ruleset), list(SIZES), evaluate, seed=s)
            for s in range(sets)]
    table = pd.concat(runs).groupby("labels")["binary_kappa"]
    medians = table.median().to_dict()
    print(f"\n### Learning curve: random labels from the training file, kappa on the evaluation file "
          f"({len(evaluate):,} responses), {sets} label sets per size\n")
    print("| labels | median kappa | lowest | highest | interval of the median set |")
    print("|---|---|---|---|---|")
    for size in SIZES:
        rows = pd.concat(runs)
        rows = rows[rows["labels"] == size].reset_index(drop=True)
        mid = rows.iloc[(rows["binary_kappa"] - medians[size]).abs().argmin()]
        print(f"| {size:,} | {medians[size]:.3f} | {rows['binary_kappa'].min():.3f} | "
              f"{rows['binary_kappa'].max():.3f} | [{mid['binary_kappa_lo']:.3f}, {mid['binary_kappa_hi']:.3f}] |")
    return medians


def binary_kappa(reference, judged) -> float:
    from analysis import confusion

    counts = confusion.counts(confusion.codes(reference, confusion.THREE), confusion.codes(judged, confusion.THREE),
                              len(confusion.THREE))
    return float(confusion.kappa(confusion.collapse(counts)))


def active_run(train, evaluate, ruleset, seed: int) -> tuple[float, int]:
    """Train -> suggest -> label, BATCHES batches of BATCH (the first drawn with no judge yet, so
    uniformly and spread over questions); returns the final judge's kappa and its number of labels."""
    pool = train.assign(labelled=False, uncertainty=np.nan)
    model = None
    for batch in range(BATCHES):
        if model is not None:
            probs = model.label(pool)[[f"p_{c}" for c in model.classes]].to_numpy()
            pool["uncertainty"] = active.uncertainty(probs)
        drawn = active.draw(pool, BATCH, seed=seed * 100 + batch)
        pool.loc[pool["response_id"].isin(drawn["response_id"]), "labelled"] = True
        model = learned.fit(pool[pool["labelled"]], ruleset=ruleset)
    return binary_kappa(evaluate["label"], model.label(evaluate)["label"]), int(pool["labelled"].sum())


def active_table(train, evaluate, ruleset, sets: int, random_300: float) -> None:
    results = [active_run(train, evaluate, ruleset, seed) for seed in range(sets)]
    kappas = [k for k, _ in results]
    median = statistics.median(kappas)
    print(f"\n### Labels the queue asks for: {BATCHES} batches of {BATCH} (train -> suggest -> label)\n")
    print("| run | labels | kappa |")
    print("|---|---|---|")
    for i, (k, n) in enumerate(results):
        print(f"| {i} | {n} | {k:.3f} |")
    print(f"\nmedian {median:.3f} with {BATCHES * BATCH} suggested labels against {random_300:.3f} with 300 random")
    print(f"target: {BATCHES * BATCH} suggested labels >= 300 random labels (median kappa {median:.3f} vs "
          f"{random_300:.3f}) -> {'met' if median >= random_300 else 'NOT met'}")


def timed_run(labelled, many, ruleset, known=None) -> dict:
    """Train and label everything (streamed in chunks of 10,000): wall and CPU seconds of each step."""
    started, cpu = time.perf_counter(), time.process_time()
    name, verdicts = learned.fit_predict(labelled, (many.iloc[i:i + 10_000] for i in range(0, len(many), 10_000)),
                                         ruleset=ruleset, known_rules=known)
    fit_wall, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
    done = sum(len(part) for part in verdicts)
    return {"name": name, "done": done, "fit": (fit_wall, fit_cpu),
            "total": (time.perf_counter() - started, time.process_time() - cpu)}


def speed(train, evaluate, ruleset, items: int, n_labels: int) -> None:
    everything = pd.concat([train, evaluate], ignore_index=True)
    many = everything.sample(items, replace=True, random_state=1).reset_index(drop=True)
    many["response_id"] = np.arange(items)
    labelled = many.drop_duplicates("response").sample(n_labels, random_state=2)
    load = os.getloadavg()[0]
    full = timed_run(labelled, many, ruleset)
    started, cpu = time.perf_counter(), time.process_time()
    found, why = [], []
    for i in range(0, items, 10_000):
        part = many.iloc[i:i + 10_000]
        f, w = rules.label_texts(ruleset, part["response"].tolist(), part["prompt"].tolist())
        found += f
        why += w
    rule_wall, rule_cpu = time.perf_counter() - started, time.process_time() - cpu
    known = pd.DataFrame({"label": found, "rationale": why}, index=many["response_id"])
    stored = timed_run(labelled, many, ruleset, known)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n### Speed: {full['name']} trained on {n_labels:,} labels, labelling {full['done']:,} responses "
          f"({many['response'].str.len().mean():,.0f} characters on average), streamed in chunks of 10,000\n")
    print("| run | train wall s | train CPU s | total wall s | total CPU s |")
    print("|---|---|---|---|---|")
    for title, run in (("rule judge run inside (nothing stored)", full),
                       ("rule judge's verdicts already stored (as after judge --judge rules)", stored)):
        print(f"| {title} | {run['fit'][0]:.1f} | {run['fit'][1]:.1f} | {run['total'][0]:.1f} | {run['total'][1]:.1f} |")
    print(f"| the rule judge alone on the {items:,} (for comparison) | | | {rule_wall:.1f} | {rule_cpu:.1f} |")
    print(f"\nload average {load:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores shared with other jobs); "
          f"peak memory {peak:,.0f} MB")
    wall, cpu = full["total"]
    print(f"target: train on {n_labels:,} labels and label {full['done']:,} responses in < 30 s, rule judge included "
          f"(measured {wall:.1f} s wall, {cpu:.1f} s CPU) -> {'met' if wall < 30 else 'NOT met'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=5, help="random label sets per size (and active runs)")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=1000)
    args = parser.parse_args()
    if not (DATA / "responses_labeled_train.csv").exists():
        print(f"gptfuzz data not found at {DATA}; target: gptfuzz learning curve -> NOT met")
        return
    ruleset = rules.load_rules()
    train, evaluate = load("responses_labeled_train.csv"), load("responses_labeled_evaluate.csv")
    rule_found, _ = rules.label_texts(ruleset, evaluate["response"].tolist(), evaluate["prompt"].tolist())
    print(f"gptfuzz: {len(train):,} training responses, {len(evaluate):,} held-out; rule judge ({ruleset.judge_name}) "
          f"on the held-out file: kappa {binary_kappa(evaluate['label'], rule_found):.3f}")
    medians = curve_table(train, evaluate, ruleset, args.sets)
    for size, floor in ((300, 0.80), (100, 0.70)):
        print(f"target: {size} random labels -> kappa >= {floor:.2f} (median {medians[size]:.3f}) -> "
              f"{'met' if medians[size] >= floor else 'NOT met'}")
    active_table(train, evaluate, ruleset, args.sets, medians[300])
    speed(train, evaluate, ruleset, args.items, args.labels)


if __name__ == "__main__":
    main()
