"""Smart-factory level: questionnaire and measured evidence -> score out of 1,000 and gated level 1-5."""

from assessor.domain.level.evidence import Evidence, MachineEvidence
from assessor.domain.level.questionnaire import ITEMS, Field, Item, QuestionnaireError, validate_answers
from assessor.domain.level.rules import (
    DEFAULT_RULES_PATH,
    BuildLevel,
    Gate,
    LevelRule,
    LevelRules,
    RulesError,
    load_rules,
    parse_rules,
    parse_rules_text,
)
from assessor.domain.level.scoring import Assessment, FieldScore, GateResult, Step, assess

__all__ = [
    "DEFAULT_RULES_PATH",
    "ITEMS",
    "Assessment",
    "BuildLevel",
    "Evidence",
    "Field",
    "FieldScore",
    "Gate",
    "GateResult",
    "Item",
    "LevelRule",
    "LevelRules",
    "MachineEvidence",
    "QuestionnaireError",
    "RulesError",
    "Step",
    "assess",
    "load_rules",
    "parse_rules",
    "parse_rules_text",
    "validate_answers",
]
