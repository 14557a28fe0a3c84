#!/usr/bin/env bash
# Builds the Lambda bootstraps: every functions/<name>/main.go, and infra/activator (the custom
# resource that activates the SES receipt rule set), for arm64 (provided.al2023), into
# <out>/<name>/bootstrap. <out> defaults to .build/functions (git-ignored); the CDK app reads
# the same folder (MOAT_FUNCTIONS_DIR overrides both). Offline once the module cache is warm.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${MOAT_FUNCTIONS_DIR:-.build/functions}}
mkdir -p "$out"

pkgs=()
for main in functions/*/main.go; do
  [ -e "$main" ] || continue
  pkgs+=("$(dirname "$main")")
done
pkgs+=(infra/activator)

failed=0
for pkg in "${pkgs[@]}"; do
  name=$(basename "$pkg")
  mkdir -p "$out/$name"
  if ! GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' \
      -o "$out/$name/bootstrap" "./$pkg"; then
    echo "build-functions: $pkg does not build" >&2
    failed=1
  fi
done
exit $failed
