#!/bin/bash
# Copy of the device-side demo script (issue 8: "the demo config trains on the H100 to the same held-out accuracy as
# on CPU"); prepare .gpu/ as scripts/gpu/bench-all.sh says, then run(command="bash .gpu/demo-webgpu.sh", carry=[".gpu"]).
# The demo (SFT warm-up, then GRPO, held-out accuracy before and after) on webgpu and, at the same time on the CPU
# cores, on wasm; both summaries and metrics land in $OUT.
. .gpu/setup.sh
cd "$(dirname "$0")/.." || exit 1
run() {
  start=$(date +%s)
  timeout 570 node .gpu/mmrl.mjs demo examples/configs/demo.yaml --backend "$1" --out /tmp/demo --name "$1" --quiet \
    > "$OUT/demo-$1.log" 2>&1
  echo "$1 rc $? wall $(( $(date +%s) - start )) s" >> "$OUT/status.txt"
  cp "/tmp/demo/$1/summary.json" "$OUT/demo-$1.summary.json" 2>/dev/null
  cp "/tmp/demo/$1/metrics.jsonl" "$OUT/demo-$1.metrics.jsonl" 2>/dev/null
}
run webgpu &
run wasm &
wait
cat "$OUT/status.txt"; tail -n 3 "$OUT"/demo-*.log
