"""Policy-as-code: restriction and organisation files, scope matching, lifecycle. Pure: values in, values out."""

from appban.policy.check import PolicySet
from appban.policy.files import PolicyBatch, parse_policy_text, read_batch
from appban.policy.lifecycle import Due, DueKind, check_transition, due, lifecycle
from appban.policy.organisations import (
    OrganisationEntry,
    OrganisationTree,
    check_organisations,
    parse_organisations,
)
from appban.policy.restriction import ParsedRestriction, content_hash, parse_restriction
from appban.policy.scope import (
    AllOf,
    AnyOf,
    DeviceAttribute,
    Everything,
    Match,
    Not,
    binding_organisations,
    in_scope,
)
from appban.yamldoc import MAX_DOCUMENT_BYTES

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "AllOf",
    "AnyOf",
    "DeviceAttribute",
    "Due",
    "DueKind",
    "Everything",
    "Match",
    "Not",
    "OrganisationEntry",
    "OrganisationTree",
    "ParsedRestriction",
    "PolicyBatch",
    "PolicySet",
    "binding_organisations",
    "check_organisations",
    "check_transition",
    "content_hash",
    "due",
    "in_scope",
    "lifecycle",
    "parse_organisations",
    "parse_policy_text",
    "parse_restriction",
    "read_batch",
]
