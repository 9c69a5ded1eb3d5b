"""Storage: SQLAlchemy tables, repositories that speak model values, Alembic migrations.

Open a `Database`, run work inside `database.session()` (one transaction), and use one repository per domain
on that session. SQLite by default, PostgreSQL in production; see `appban.store.database`.
"""

from appban.store.adoptions import Adoption, AdoptionRepository
from appban.store.audit_log import AuditLog
from appban.store.database import DEFAULT_URL, URL_VARIABLE, Database, database_url
from appban.store.organisations import ApplyCounts, OrganisationRepository
from appban.store.restrictions import AppliedVersion, ApplyOutcome, RestrictionRepository, StoredRestriction

__all__ = [
    "DEFAULT_URL",
    "URL_VARIABLE",
    "Adoption",
    "AdoptionRepository",
    "AppliedVersion",
    "ApplyCounts",
    "ApplyOutcome",
    "AuditLog",
    "Database",
    "OrganisationRepository",
    "RestrictionRepository",
    "StoredRestriction",
    "database_url",
]
