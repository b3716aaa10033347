#!/usr/bin/env bash
# deno task bench:clog — clog against pino on Deno and Node (bench/clog.ts spawns the Node run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
exec deno run -A bench/clog.ts "$@"
