"""Runs: judging and generation over a selection, with the HTTP runner behind LLM calls.

    orchestrator.judge(db, judge, selection, ...)      every judge, batch or LLM
    orchestrator.generate(db, generator, selection, ...)

One job per module: ``endpoint`` (where requests go, TLS), ``calls`` (one HTTP call, what its
failure means, the parameters an endpoint refuses), ``replies`` (what a reply says, or why it says
nothing), ``learn`` (the structured-output mode an endpoint takes), ``ledger`` (cache hits, twins,
progress), ``pool`` (async workers in this process), ``processes`` (the same over forked worker
processes), ``batch`` (the same through a provider's Batch API), ``liveness`` (is a run's process
alive), ``background`` (a run on its own thread for the app), ``orchestrator`` (the only code that
both reads the store and runs a judge).
"""

from runs.endpoint import Endpoint
from runs.ledger import Progress
from runs.pool import Settings

__all__ = ["Endpoint", "Progress", "Settings"]
