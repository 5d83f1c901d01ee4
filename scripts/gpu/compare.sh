#!/bin/bash
# Copy of the device-side scripts; run from the repository root on the device after `npm run bundle`,
# ../shared/gpu/prepare.sh .gpu/mmrl.mjs and scripts/gpu/pack-dawn.sh, with: cp scripts/gpu/*.sh .gpu/
# usage (on the device): bash .gpu/compare.sh "cfg:seed cfg:seed ..." [parallel]
. .gpu/setup.sh
P=${2:-16}
mkdir -p "$OUT/runs" /tmp/runs
one() {
  c=${1%:*}; s=${1#*:}; d=$OUT/runs/$c-s$s
  mkdir -p "$d"
  start=$(date +%s)
  timeout 570 node .gpu/mmrl.mjs train examples/configs/$c.yaml --seed $s --out /tmp/runs --name $c-s$s --quiet > /tmp/runs/$c-s$s.log 2>&1
  echo "rc $? wall $(( $(date +%s) - start ))" > "$d/status.txt"
  cp /tmp/runs/$c-s$s/summary.json /tmp/runs/$c-s$s/metrics.jsonl "$d/" 2>/dev/null
  tail -n 5 /tmp/runs/$c-s$s.log > "$d/log.txt"
}
export -f one
echo $1 | tr ' ' '\n' | xargs -P "$P" -I{} bash -c 'one {}'
nproc > "$OUT/nproc.txt"
# One results file (the device returns a limited number of files): config, seed, before/after accuracy, wall time.
for d in "$OUT"/runs/*; do
  n=$(basename "$d")
  /tmp/node -e '
    const fs = require("fs"); const [d, n] = process.argv.slice(1);
    let s = {}; try { s = JSON.parse(fs.readFileSync(d + "/summary.json", "utf8")); } catch {}
    const st = fs.readFileSync(d + "/status.txt", "utf8").trim();
    console.log(JSON.stringify({ run: n, status: st, before: s.beforeRl?.accuracy, after: s.afterRl?.accuracy, rlSeconds: s.rl?.seconds, lastAccuracy: s.rl?.lastAccuracy, skipped: s.rl?.skippedUpdates }));
  ' "$d" "$n"
done > "$OUT/results.jsonl"
cat "$OUT/results.jsonl"
(cd "$OUT" && tar czf metrics.tar.gz runs/*/metrics.jsonl runs/*/log.txt && rm -rf runs)
