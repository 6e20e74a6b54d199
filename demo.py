"""The built-in demo database: our demo data set (sources/demo.py) judged by the offline rule
judge as well, so a fresh offline install opens with two judges and two reviewers to compare.

It composes a source and a judge, which is why it lives above both rather than inside either.
"""

import judges
from runs import orchestrator
from sources.batch import ImportResult
from sources.demo import load_demo


def build_demo(db) -> ImportResult:
    """Load the demo data and judge it with the rule judge (both idempotent)."""
    result = load_demo(db)
    orchestrator.judge(db, judges.load("rules"))
    return result
