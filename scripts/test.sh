#!/usr/bin/env bash
# deno task test [--runtimes-only] [deno test args...]
#
# Brings the services up if they are not running, runs the whole suite on Deno, then the
# files listed in tests/runtimes.txt on Node (through tsx) and on Bun, and ends with one
# line: `N passed, N failed, N skipped`. Exits non-zero when a test failed or none ran, when
# a runtime exited non-zero outside any test, or when one ran past its time limit
# (GOCHAT_TEST_MINUTES per runtime, default 20, and GOCHAT_TEST_TOTAL_MINUTES for the whole
# run from the start of this script, default 60; CI sets the total lower).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

runtimes_only=""
if [ "${1:-}" = "--runtimes-only" ]; then
  runtimes_only=1
  shift
fi

deadline=$(($(date +%s) + ${GOCHAT_TEST_TOTAL_MINUTES:-60} * 60))
bash scripts/services.sh up || {
  echo "0 passed, 1 failed, 0 skipped (the services did not come up)"
  exit 1
}
bash scripts/services.sh tools || {
  echo "0 passed, 1 failed, 0 skipped (the etcd and Redis binaries the fault tests run are missing)"
  exit 1
}

minutes=${GOCHAT_TEST_MINUTES:-20}
# A hung runtime is stopped, so that the summary line still comes; its exit code (124)
# counts as a failure. Each runtime gets its own limit or what is left of the total, and the
# summary needs a little time of its own.
limit() {
  local seconds=$((minutes * 60)) left=$((deadline - $(date +%s) - 30))
  [ "$left" -lt "$seconds" ] && seconds=$left
  [ "$seconds" -gt 0 ] || seconds=1
  timeout -k 10s "${seconds}s" "$@"
}

results=.test-results
rm -rf "$results"
mkdir -p "$results"
reports=()

if [ -z "$runtimes_only" ]; then
  echo "== deno test =="
  limit deno test -A --junit-path="$results/deno.xml" "$@" tests/
  reports+=("deno=$results/deno.xml:$?")
fi

mapfile -t portable < <(grep -v '^\s*#' tests/runtimes.txt | grep . | while read -r entry; do
  if [ -d "$entry" ]; then find "$entry" -name '*_test.ts' | sort; else echo "$entry"; fi
done)

echo "== node (tsx) =="
limit node --import tsx --test --test-timeout=120000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=junit --test-reporter-destination="$results/node.xml" "${portable[@]}"
reports+=("node=$results/node.xml:$?")

echo "== bun =="
limit bun test --timeout 120000 --reporter=junit --reporter-outfile="$results/bun.xml" \
  $(printf './%s ' "${portable[@]}")
reports+=("bun=$results/bun.xml:$?")

echo "== summary =="
deno run -A scripts/test_summary.ts "${reports[@]}"
