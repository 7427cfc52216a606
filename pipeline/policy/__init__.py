"""The slip-up policy: a TOML file the communications team edits, compiled for fast checks.

A policy has categories (severity + coaching hint) holding rules: plain terms and
phrases, RE2 regular expressions, "near" rules (a competitor within a few words
of a disparaging word; an action, its object and a time) and personal-data
detectors. `docs/slipups.md` documents the file format.

One concern per module, so that each can be read and changed on its own:
`folding` (the forms in which texts, terms and patterns are compared, evasions
undone), `detectors` (personal data), `policy_file` (reading, merging and
validating a policy file, and the shipped `default_policy.toml`), `matcher`
(the compiled `Policy` and the slip-ups of a post) and `allow_list` (adding a
phrase reviewers found harmless to a policy file). This module re-exports what
the rest of Chorus uses.
"""

from pipeline.policy.allow_list import add_to_allow_list
from pipeline.policy.detectors import iban_valid, luhn_valid
from pipeline.policy.folding import normalise, normalise_with_spans
from pipeline.policy.matcher import Policy, flag_post, slipup_id
from pipeline.policy.policy_file import PolicyError, lint

__all__ = [
    "Policy",
    "PolicyError",
    "add_to_allow_list",
    "flag_post",
    "iban_valid",
    "lint",
    "luhn_valid",
    "normalise",
    "normalise_with_spans",
    "slipup_id",
]
