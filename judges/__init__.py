"""Pure judges: each turns items (a prompt and a response) into verdicts and knows nothing of the
database or of HTTP. The run orchestrator (runs/orchestrator.py) finds the items, sends LLM
requests and records the verdicts.

Two shapes of judge:
- batch judges (``rules.RuleSet``) label many items in-process: ``label_items(items)``;
- LLM judges (``llm.LLMJudge``) build one request per item (``request``) and read the reply
  (``parse``).
Both carry ``name`` (with a hash of what shapes their answers), ``family`` (rules, llm, ...) and
``config``.
"""

from judges import llm, rules

BUILTIN_JUDGES = ("rules", *llm.BUILTIN)


def load(spec: str, *, model: str | None = None, rules_file=None, template: str | None = None,
         max_tokens: int = llm.DEFAULT_MAX_TOKENS):
    """The judge ``spec`` names: ``rules`` (with an optional rules file), ``coconot``,
    ``three-class``, a template file, or ``template`` text typed on the Run page (``spec`` is then
    its kind name)."""
    if spec == "rules":
        return rules.load_rules(rules_file)
    if template is not None:
        return llm.judge_from_template(template, model, spec, max_tokens=max_tokens)
    return llm.load_judge(spec, model, max_tokens)


__all__ = ["BUILTIN_JUDGES", "llm", "load", "rules"]
