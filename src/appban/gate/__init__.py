"""The gate: the reverse-proxy check that cuts non-compliant devices off services, and the holders' pages.

`decide` (pure) answers from a `DecisionTable` that a `Follower` keeps current from the store; `GateApp` is the
`/gate/auth` endpoint (served by the ASGI app, or on a socket of its own by `GateListener`), `RemediationApp` the
`/remediate/{token}` pages, `DecisionLog` records every decision.
docs/gate.md describes the contract, the rules and proxy configurations.
"""

from appban.gate.asgi import AUTH_PATH, GATE_TOKEN_HEADER, SERVICE_HEADER, GateApp
from appban.gate.decision import (
    ALLOWED,
    Decision,
    DecisionTable,
    DeviceEntry,
    DeviceInfo,
    FindingInfo,
    GateToken,
    RestrictionInfo,
    Result,
    build_table,
    compile_device,
    decide,
    header_text,
)
from appban.gate.follow import ChangeCursor, Follower, GateStatus, in_force
from appban.gate.links import Links
from appban.gate.listener import MAX_HEAD, GateListener
from appban.gate.log import DecisionLog
from appban.gate.page import Item, PageView, render_message, render_page, render_unknown_device
from appban.gate.remediation import RemediationApp
from appban.gate.seals import DecisionSeal, SealCheck, SealRun, check_lines

__all__ = [
    "ALLOWED",
    "AUTH_PATH",
    "GATE_TOKEN_HEADER",
    "MAX_HEAD",
    "SERVICE_HEADER",
    "ChangeCursor",
    "Decision",
    "DecisionLog",
    "DecisionSeal",
    "DecisionTable",
    "DeviceEntry",
    "DeviceInfo",
    "FindingInfo",
    "Follower",
    "GateApp",
    "GateListener",
    "GateStatus",
    "GateToken",
    "Item",
    "Links",
    "PageView",
    "RemediationApp",
    "RestrictionInfo",
    "Result",
    "SealCheck",
    "SealRun",
    "build_table",
    "check_lines",
    "compile_device",
    "decide",
    "header_text",
    "in_force",
    "render_message",
    "render_page",
    "render_unknown_device",
]
