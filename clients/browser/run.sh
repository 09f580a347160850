#!/usr/bin/env bash
# Runs the headless-Chromium check of PromoHub's GraphiQL page.
#
#   PROMOHUB_URL=http://127.0.0.1:8080 clients/browser/run.sh
#
# Installs Debian's chromium if /usr/bin/chromium is missing (and no
# CHROMIUM_PATH is given), installs playwright-core from the lock file, runs
# graphiql-check.mjs. See that file for the other variables
# (SCREENSHOT_DIR, CHROMIUM_PATH, ...).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [[ -z ${PROMOHUB_URL:-} ]]; then
	echo "run.sh: set PROMOHUB_URL to the server, e.g. http://127.0.0.1:8080" >&2
	exit 2
fi

if [[ -z ${CHROMIUM_PATH:-} && ! -x /usr/bin/chromium ]]; then
	echo "run.sh: installing Debian's chromium" >&2
	sudo=()
	[[ $(id -u) == 0 ]] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

command -v node >/dev/null || { echo "run.sh: node (>= 20) is required" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
exec node graphiql-check.mjs
