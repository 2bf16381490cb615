"""Rules: the model, and loading it from JSON/YAML with validation."""

from vigil_alerting.rules.load import load_file, load_text, parse_rule, parse_rules
from vigil_alerting.rules.model import SEVERITY_RANK, Rule, glob_matches, glob_to_regex, severity_rank

__all__ = [
    "SEVERITY_RANK",
    "Rule",
    "glob_matches",
    "glob_to_regex",
    "load_file",
    "load_text",
    "parse_rule",
    "parse_rules",
    "severity_rank",
]
