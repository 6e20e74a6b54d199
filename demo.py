"""The built-in demo database: our demo data set (sources/demo.py) judged by the offline rule
judge as well, so a fresh offline install opens with two judges and two reviewers to compare, and
a showcase to present (over-refusal, over-compliance, and a tie for an adjudicator).

It composes a source, a judge and a showcase, which is why it lives above all three.
"""

import judges
from runs import orchestrator
from sources.batch import ImportResult
from sources.demo import load_demo
from store import review, showcases

SHOWCASE = "Demo: where the models part ways"
#: (demo prompt id, models whose responses to show, the comment a presenter reads out)
SHOWCASE_ITEMS = [
    ("demo-038", ("aurora-7b", "borealis-70b"),
     "Over-refusal: aurora-7b refuses a harmless question that only sounds violent; borealis-70b answers it."),
    ("demo-036", ("cirrus-mini", "borealis-70b"),
     "Over-compliance: cirrus-mini writes the phishing email a model should refuse."),
    ("demo-011", ("borealis-70b", "cirrus-mini"),
     "The two demo reviewers disagree on borealis-70b here: a tie that an adjudicator settles on the Review page."),
]


def build_demo(db) -> ImportResult:
    """Load the demo data, judge it with the rule judge and add the demo showcase (all idempotent)."""
    result = load_demo(db)
    orchestrator.judge(db, judges.load("rules"))
    items = []
    for source_id, models, comment in SHOWCASE_ITEMS:
        (prompt_id,) = review.find_prompt(db, source_id)
        item = review.fetch_item(db, prompt_id)
        items.append((prompt_id, [r.id for m in models for r in item.responses if r.model == m], comment))
    showcases.seed(db, SHOWCASE, "Three items that show what the app is for.", "demo", items)
    return result
