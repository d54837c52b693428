"""CROC agent call scripts: the model, the loader and a pure interpreter.

A script (one YAML file in `scripts/`) has the four CROC sections in order — Contact, Raison de
l'appel, Objectif, Conclusion — each a list of steps. A step shows text with lead variables
(`{first_name}`, `{company}`…), may ask one question (yes/no, single or multiple choice, text,
number, date; optionally required) and moves on by its branches (on the answer), its `next` step,
its `outcome`, or else to the following step. Objection snippets can be opened at any time.
Outcomes map to a disposition code and a dialer action (success, callback, refused, wrong number,
do not call).

Variables are substituted by one regular-expression pass, never `str.format`: a template cannot
reach attributes or indexes, an unknown variable stays visible as `{name}`, and a value is inserted
as inert text (its own braces are not expanded; HTML escaping is the page's job).

The interpreter is a function of (script, variables, answers so far): it replays the path from the
first step, so the desk can send the whole answer set after every click and get the view back.
"""

from core.model_errors import ContentError, format_loc
from dialer.croc.answers import Blocker, disposition_blockers, normalise_answers, outcome_blockers
from dialer.croc.interpreter import ScriptView, StepView, interpret, objection_text, render
from dialer.croc.loading import check_scripts, load_script, parse_script, shipped_script_paths
from dialer.croc.model import (
    CHOICE_TYPES,
    MAX_TEXT_ANSWER,
    OUTCOME_ACTIONS,
    SCRIPTS_DIR,
    SECTION_ORDER,
    STANDARD_VARIABLES,
    Branch,
    Objection,
    Option,
    Outcome,
    Question,
    QuestionType,
    Script,
    Section,
    SectionKind,
    Step,
)

__all__ = [
    "CHOICE_TYPES",
    "MAX_TEXT_ANSWER",
    "OUTCOME_ACTIONS",
    "SCRIPTS_DIR",
    "SECTION_ORDER",
    "STANDARD_VARIABLES",
    "Blocker",
    "Branch",
    "ContentError",
    "Objection",
    "Option",
    "Outcome",
    "Question",
    "QuestionType",
    "Script",
    "ScriptView",
    "Section",
    "SectionKind",
    "Step",
    "StepView",
    "check_scripts",
    "disposition_blockers",
    "format_loc",
    "interpret",
    "load_script",
    "normalise_answers",
    "objection_text",
    "outcome_blockers",
    "parse_script",
    "render",
    "shipped_script_paths",
]
