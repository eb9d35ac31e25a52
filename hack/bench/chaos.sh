#!/usr/bin/env bash
# The long variants of the chaos cases in test/chaos: the same tests, each
# HOLDFAST_CHAOS_SCALE times as large as hack/test runs them (default 10:
# 1,000 workspaces created and 300 deleted under 40 kills of the operator,
# 200 across an apiserver and etcd crash, a ten-minute PostgreSQL outage,
# 600 generated specs). Prints each case's outcome and time, then a total.
#
#   hack/bench/chaos.sh [scale]
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"
ensure_debs "${HOLDFAST_TEST_DEBS[@]}" && ensure_node_modules
hack/build-tools.sh >/dev/null
export HOLDFAST_CHAOS_SCALE=${1:-${HOLDFAST_CHAOS_SCALE:-10}}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$SECONDS
npx vitest run --project integration test/chaos --reporter=default --reporter=json --outputFile="$out/chaos.json"
rc=$?
echo
echo "chaos at $HOLDFAST_CHAOS_SCALE times hack/test's size, $(nproc) cores, $(date -u +%F)"
[[ -f $out/chaos.json ]] && node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const file of r.testResults)
    for (const t of file.assertionResults)
      console.log(`${t.status.padEnd(7)} ${(t.duration / 1000).toFixed(1).padStart(7)} s  ${t.ancestorTitles.join(" > ")} > ${t.title}`);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`);' "$out/chaos.json"
echo "wall time $((SECONDS - start)) s"
exit $rc
