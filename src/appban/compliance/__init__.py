"""The compliance engine: findings from (restrictions, devices, inventory, exemptions, now). Pure."""

from appban.compliance.engine import Change, Engine, Key, StalenessPolicy, full_evaluation, rule_changes
from appban.compliance.evaluate import Verdict, evaluate, exemption_for
from appban.compliance.rules import Rule, compile_rule, start_of
from appban.compliance.state import DeviceInventory, fold_report

__all__ = [
    "Change",
    "DeviceInventory",
    "Engine",
    "Key",
    "Rule",
    "StalenessPolicy",
    "Verdict",
    "compile_rule",
    "evaluate",
    "exemption_for",
    "fold_report",
    "full_evaluation",
    "rule_changes",
    "start_of",
]
