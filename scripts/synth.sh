#!/usr/bin/env bash
# Synthesizes the CDK app offline with the pinned CLI (aws-cdk in _tools/cdk, installed from its
# lockfile when missing or stale), then lints the templates with cfn-lint. cdk.json's "app"
# builds the function bootstraps (scripts/build-functions.sh) before running the Go app, and the
# app runs cdk-nag: an invalid configuration or an unsuppressed finding fails here.
# Extra arguments go to `cdk synth`, e.g. scripts/synth.sh -c stage=staging
set -euo pipefail
cd "$(dirname "$0")/.."

export CDK_DISABLE_CLI_TELEMETRY=true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION=1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

tools=_tools/cdk
cli=$tools/node_modules/.bin/cdk
want=$(node -p "require('./$tools/package.json').devDependencies['aws-cdk']")
have=$("$cli" --version 2>/dev/null | cut -d' ' -f1 || true)
if [ "$have" != "$want" ]; then
  echo "== npm ci ($tools: aws-cdk $want)"
  npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error
fi

echo "== cdk synth"
rm -rf cdk.out
"$cli" synth --no-notices --quiet "$@"

echo "== cfn-lint"
if ! command -v cfn-lint >/dev/null 2>&1; then
  echo "cfn-lint not found (pip install cfn-lint; it ships with this project's machine image)" >&2
  exit 1
fi
cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json
echo "synth: $(ls cdk.out/*.template.json | xargs -n1 basename | tr '\n' ' ')ok"
