#!/usr/bin/env bash
# deno task check: the static checks CI runs. Stops at the first failing one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

# Every entrypoint of the exports map, for the doc lint.
mapfile -t entrypoints < <(deno eval 'const c = JSON.parse(Deno.readTextFileSync("deno.json")); for (const f of Object.values(c.exports)) console.log(f)')

step() {
  echo "== $* =="
  "$@"
}
step deno fmt --check
step deno lint
step deno check .
step deno test --doc --no-run "${entrypoints[@]}" $(printf '%s\n' "${entrypoints[@]}" | xargs -n1 dirname | sort -u | grep -v '^\.$')
step deno doc --lint "${entrypoints[@]}"
step deno publish --dry-run --allow-dirty
if git grep -n -E "[\"']jsr:" -- '*.ts' '*.json' >/dev/null 2>&1; then
  echo "jsr: imports cannot be resolved on our machines:"
  git grep -n -E "[\"']jsr:" -- '*.ts' '*.json'
  exit 1
fi
echo "static checks: ok"
