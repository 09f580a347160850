#!/usr/bin/env bash
# Interop tests: PromoHub against the GraphQL clients SPA teams use.
#   PROMOHUB_URL=http://127.0.0.1:8181 bash clients/interop/run.sh [part...]
# Runs `npm ci` (skip with INTEROP_SKIP_NPM_CI=1), then each part against
# the running server; prints one line per part and exits non-zero if any
# part failed. Parts: audit ws apollo urql codegen relay (default: all).
set -uo pipefail
cd "$(dirname "$0")"

if [[ -z "${PROMOHUB_URL:-}" ]]; then
  echo "PROMOHUB_URL is not set (e.g. PROMOHUB_URL=http://127.0.0.1:8181)" >&2
  exit 2
fi
export PROMOHUB_URL="${PROMOHUB_URL%/}"

started=$SECONDS
if [[ "${INTEROP_SKIP_NPM_CI:-}" != 1 ]]; then
  echo "== npm ci"
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "interop: npm ci failed" >&2
    exit 1
  fi
  echo "   npm ci took $((SECONDS - started)) s"
fi

if ! node -e 'fetch(process.env.PROMOHUB_URL + "/health").then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))'; then
  echo "interop: no PromoHub server answers at $PROMOHUB_URL/health" >&2
  exit 2
fi

declare -A scripts=(
  [audit]=tests/1-graphql-http-audit.mjs
  [ws]=tests/2-graphql-ws.mjs
  [apollo]=tests/3-apollo.mjs
  [urql]=tests/4-urql.mjs
  [codegen]=tests/5-codegen.mjs
  [relay]=tests/6-relay.mjs
)
declare -A names=(
  [audit]="graphql-http audit"
  [ws]="graphql-ws"
  [apollo]="Apollo Client 4"
  [urql]="urql 6"
  [codegen]="graphql-codegen + tsc --strict"
  [relay]="relay-compiler"
)
parts=("$@")
(( ${#parts[@]} )) || parts=(audit ws apollo urql codegen relay)

summary=()
passed=0
failed=0
for part in "${parts[@]}"; do
  script=${scripts[$part]:-}
  if [[ -z "$script" ]]; then
    echo "unknown part '$part' (parts: ${!scripts[*]})" >&2
    exit 2
  fi
  echo "== $part: ${names[$part]}"
  t0=$SECONDS
  timeout 300 node "$script"
  status=$?
  took=$((SECONDS - t0))
  if (( status == 0 )); then
    summary+=("interop $part: pass (${names[$part]}, ${took} s)")
    passed=$((passed + 1))
  else
    summary+=("interop $part: FAIL (${names[$part]}, exit $status, ${took} s)")
    failed=$((failed + 1))
  fi
done

echo
printf '%s\n' "${summary[@]}"
echo "interop took $((SECONDS - started)) s"
echo "interop: $passed passed, $failed failed"
(( failed == 0 ))
