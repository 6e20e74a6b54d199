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

from errors import UserError
from judges import llm, rules

BUILTIN_JUDGES = ("rules", *llm.BUILTIN)


def load(spec: str, *, model: str | None = None, rules_file=None, template: str | None = None,
         max_tokens: int = llm.DEFAULT_MAX_TOKENS, structured: str = "off"):
    """The judge ``spec`` names: ``rules`` (with an optional rules file), ``coconot``,
    ``three-class``, a template file, or ``template`` text typed on the Run page (``spec`` is then
    its kind name). ``structured``: how an LLM judge asks for its verdict (llm.STRUCTURED_MODES)."""
    if spec == "rules":
        return rules.load_rules(rules_file)
    if template is not None:
        return llm.judge_from_template(template, model, spec, max_tokens=max_tokens, structured=structured)
    return llm.load_judge(spec, model, max_tokens, structured)


def rebuild(name: str, config: dict):
    """Judge ``name`` again from the config the judges table keeps for it (to resume its run). Refused
    when what it is built from changed since (its rules file, its template or rubric file): the
    rebuilt judge would be another judge."""
    if "rules_file" in config:
        judge = rules.load_rules(config["rules_file"])
    elif "model" in config:
        kind, settings = config.get("kind", ""), config.get("settings", {})
        max_tokens = settings.get("max_tokens", llm.DEFAULT_MAX_TOKENS)
        structured = config.get("structured", "off")
        if kind in llm.BUILTIN:
            judge = llm.load_judge(kind, config["model"], max_tokens, structured)
        elif "template" in config:
            judge = llm.judge_from_template(config["template"], config["model"], kind, max_tokens=max_tokens,
                                            structured=structured)
        else:
            raise UserError(f"judge {name} kept no template to rebuild it from: start it again from its template")
    else:
        raise UserError(f"judge {name} cannot be rebuilt here (it was imported or learned): start it again")
    if judge.name != name:
        raise UserError(f"judge {name} cannot be resumed: what it is built from changed since (it is now "
                        f"{judge.name}); start that judge instead")
    return judge


__all__ = ["BUILTIN_JUDGES", "llm", "load", "rebuild", "rules"]
