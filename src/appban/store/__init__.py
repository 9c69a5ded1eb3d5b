"""Storage: SQLAlchemy tables, repositories that speak model values, Alembic migrations.

Open a `Database`, run work inside `database.session()` (one transaction), and use one repository per domain
on that session. SQLite by default, PostgreSQL in production; see `appban.store.database`. Repositories of
devices, inventories and findings move rows in bulk (appban.store.bulk): they are sized for whole fleets.
"""

from appban.store.adoptions import Adoption, AdoptionRepository
from appban.store.assessments import AssessmentRecord, AssessmentRepository, read_report
from appban.store.attestations import AttestationRepository
from appban.store.audit_log import AuditLog
from appban.store.database import DEFAULT_URL, URL_VARIABLE, Database, database_url
from appban.store.devices import DeviceRepository, UpsertCounts
from appban.store.exemptions import ExemptionRecord, ExemptionRepository, ExemptionRequest, RequestStatus
from appban.store.findings import FindingEvent, FindingRepository, StoredFinding
from appban.store.gate_feed import GateFeed
from appban.store.holders import HolderRepository
from appban.store.inventories import InventoryRepository, ReceivedReport
from appban.store.notices import DeviceNotice, NoticeRecord, NoticeRepository
from appban.store.organisations import ApplyCounts, OrganisationRepository
from appban.store.restrictions import AppliedVersion, ApplyOutcome, RestrictionRepository, StoredRestriction
from appban.store.settings import MAX_STALENESS_DAYS, SettingsRepository
from appban.store.stamps import data_stamp, policy_stamp
from appban.store.tokens import TokenRepository
from appban.store.users import UserInfo, UserRepository, hash_password, verify_password

__all__ = [
    "DEFAULT_URL",
    "MAX_STALENESS_DAYS",
    "URL_VARIABLE",
    "Adoption",
    "AdoptionRepository",
    "AppliedVersion",
    "ApplyCounts",
    "ApplyOutcome",
    "AssessmentRecord",
    "AssessmentRepository",
    "AttestationRepository",
    "AuditLog",
    "Database",
    "DeviceNotice",
    "DeviceRepository",
    "ExemptionRecord",
    "ExemptionRepository",
    "ExemptionRequest",
    "FindingEvent",
    "FindingRepository",
    "GateFeed",
    "HolderRepository",
    "InventoryRepository",
    "NoticeRecord",
    "NoticeRepository",
    "OrganisationRepository",
    "ReceivedReport",
    "RequestStatus",
    "RestrictionRepository",
    "SettingsRepository",
    "StoredFinding",
    "StoredRestriction",
    "TokenRepository",
    "UpsertCounts",
    "UserInfo",
    "UserRepository",
    "data_stamp",
    "database_url",
    "hash_password",
    "policy_stamp",
    "read_report",
    "verify_password",
]
