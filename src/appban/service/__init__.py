"""The operations the shells (CLI, API) offer, each inside one transaction: import, evaluate, impact, report,
assess."""

from appban.service.assessments import (
    Comparison,
    StoredAssessment,
    assess_and_store,
    compare_with_previous,
    store_assessment,
)
from appban.service.context import DEFAULT_STALENESS_DAYS, ContextCache, PolicyContext, load_context
from appban.service.evaluation import (
    Outcome,
    apply_reports,
    evaluate_pairs,
    evaluate_rules,
    exempted_or_attested,
    refresh_due,
)
from appban.service.holders import HolderSummary, assign_holders
from appban.service.importing import ImportSummary, import_stream
from appban.service.reporting import (
    AffectedDevice,
    Impact,
    Report,
    RestrictionSummary,
    compliance_report,
    impact,
)

__all__ = [
    "DEFAULT_STALENESS_DAYS",
    "AffectedDevice",
    "Comparison",
    "ContextCache",
    "HolderSummary",
    "Impact",
    "ImportSummary",
    "Outcome",
    "PolicyContext",
    "Report",
    "RestrictionSummary",
    "StoredAssessment",
    "apply_reports",
    "assess_and_store",
    "assign_holders",
    "compare_with_previous",
    "compliance_report",
    "evaluate_pairs",
    "evaluate_rules",
    "exempted_or_attested",
    "impact",
    "import_stream",
    "load_context",
    "refresh_due",
    "store_assessment",
]
