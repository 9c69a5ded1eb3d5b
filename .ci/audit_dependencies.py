"""CI: pip-audit over the dependencies installed from pyproject.toml (issue 8); fails on any known vulnerability.

pip-audit asks PyPI's JSON API (or OSV) about every installed distribution. On a machine whose package index is
a mirror without that API every dependency comes back "not found on PyPI": nothing could be checked, which is
said plainly instead of passing as clean. A dependency with a known vulnerability fails CI wherever the service
answers.
"""

import json
import subprocess
import sys

COMMAND = [sys.executable, "-m", "pip_audit", "--local", "--skip-editable", "--progress-spinner", "off",
           "--format", "json"]
run = subprocess.run(COMMAND, capture_output=True, text=True, check=False)  # noqa: S603 (a fixed command)
try:
    report = json.loads(run.stdout)
except json.JSONDecodeError:
    sys.exit(f"pip-audit gave no report (exit {run.returncode}): {run.stderr.strip()[-400:]}")
dependencies = report["dependencies"]
vulnerable = [d for d in dependencies if d.get("vulns")]
audited = [d for d in dependencies if "skip_reason" not in d]
for dependency in vulnerable:
    for vuln in dependency["vulns"]:
        fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
        print(f"{dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixed})")
if vulnerable:
    sys.exit(f"pip-audit: {len(vulnerable)} of {len(dependencies)} dependencies have known vulnerabilities: "
             "upgrade them (the fixed versions are above) and run CI again")
if not audited:
    print(f"pip-audit: the vulnerability service is not reachable from this machine: none of the {len(dependencies)} "
          "dependencies could be checked (each 'not found on PyPI'). Nothing is known to be vulnerable, and nothing "
          "was shown not to be: run CI where PyPI's JSON API or OSV answers.")
else:
    print(f"pip-audit: {len(audited)} of {len(dependencies)} dependencies checked, no known vulnerability "
          f"({len(dependencies) - len(audited)} not on PyPI)")
