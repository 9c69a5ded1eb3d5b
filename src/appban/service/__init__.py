"""The operations the shells (CLI, API) offer, each inside one transaction: import, evaluate, impact, report,
assess."""

from appban.service.assessments import (
    Comparison,
    StoredAssessment,
    assess_and_store,
    compare_with_previous,
    store_assessment,
)
from appban.service.checkpoints import CheckpointSchedule
from appban.service.context import DEFAULT_STALENESS_DAYS, ContextCache, PolicyContext, load_context
from appban.service.evaluation import (
    Outcome,
    ReportBatch,
    apply_report_batches,
    apply_reports,
    evaluate_pairs,
    evaluate_rules,
    exempted_or_attested,
    refresh_due,
)
from appban.service.exports import FeedPull, export_restrictions, pull_feed, read_feed_source
from appban.service.group_commit import GroupCommit
from appban.service.holders import HolderSummary, assign_holders
from appban.service.importing import ImportSummary, Push, import_pushes, import_stream, push_batch
from appban.service.reporting import (
    AffectedDevice,
    ComplianceCounts,
    Impact,
    Report,
    RestrictionSummary,
    compliance_counts,
    compliance_report,
    impact,
)
from appban.service.scheduler import OWNERS_VARIABLE, Round, Scheduler, apply_transitions, parse_owners
from appban.service.summaries import Counted, CountsCache, Reading

__all__ = [
    "DEFAULT_STALENESS_DAYS",
    "OWNERS_VARIABLE",
    "AffectedDevice",
    "CheckpointSchedule",
    "Comparison",
    "ComplianceCounts",
    "ContextCache",
    "Counted",
    "CountsCache",
    "FeedPull",
    "GroupCommit",
    "HolderSummary",
    "Impact",
    "ImportSummary",
    "Outcome",
    "PolicyContext",
    "Push",
    "Reading",
    "Report",
    "ReportBatch",
    "RestrictionSummary",
    "Round",
    "Scheduler",
    "StoredAssessment",
    "apply_report_batches",
    "apply_reports",
    "apply_transitions",
    "assess_and_store",
    "assign_holders",
    "compare_with_previous",
    "compliance_counts",
    "compliance_report",
    "evaluate_pairs",
    "evaluate_rules",
    "exempted_or_attested",
    "export_restrictions",
    "impact",
    "import_pushes",
    "import_stream",
    "load_context",
    "parse_owners",
    "pull_feed",
    "push_batch",
    "read_feed_source",
    "refresh_due",
    "store_assessment",
]
