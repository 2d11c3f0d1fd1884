#!/usr/bin/env bash
# Validates the deployment template: cfn-lint (pinned, installed from PyPI
# into target/infra-venv) with no errors, then infra/check_template.py, which
# proves the template matches the code. Needs python3 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CFN_LINT_VERSION=1.58.0
PYYAML_VERSION=6.0.3
VENV="$ROOT/target/infra-venv"

if ! "$VENV/bin/cfn-lint" --version 2>/dev/null | grep -qx "cfn-lint $CFN_LINT_VERSION" \
  || ! "$VENV/bin/python" -c 'import yaml' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "cfn-lint==$CFN_LINT_VERSION" "pyyaml>=$PYYAML_VERSION"
fi

echo "cfn-lint $CFN_LINT_VERSION on infra/template.yaml"
# Exit code 0: no errors, warnings or informational findings.
"$VENV/bin/cfn-lint" --format parseable -- infra/template.yaml

"$VENV/bin/python" infra/check_template.py
