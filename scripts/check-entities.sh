#!/usr/bin/env bash
# Fails when entity/src is not exactly what scripts/generate-entities.sh
# produces from the current migrations (the entities are generated, never
# edited by hand).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$root/scripts/generate-entities.sh" "$tmp/src"

if ! diff -ru "$root/entity/src" "$tmp/src"; then
    echo "check-entities: entities drifted from the migrations: run scripts/generate-entities.sh" >&2
    exit 1
fi
echo "check-entities: entity/src matches the migrations" >&2
