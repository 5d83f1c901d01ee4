#!/bin/bash
# Copy of the device-side scripts; run from the repository root on the device after `npm run bundle`,
# ../shared/gpu/prepare.sh .gpu/mmrl.mjs and scripts/gpu/pack-dawn.sh, with: cp scripts/gpu/*.sh .gpu/
# On the device: the train loop on webgpu (tiny config, then 5 GRPO steps from the student) and the same 5 steps on wasm.
. .gpu/setup.sh
sed -e 's/^  steps: 50/  steps: 5/' -e 's/eval: { prompts: 300 }/eval: { prompts: 64 }/' examples/configs/grpo.yaml > examples/configs/grpo-5.yaml
true
timeout 120 node .gpu/mmrl.mjs train examples/configs/grpo-5.yaml --backend webgpu --out /tmp/r --name grpo5-webgpu > $OUT/grpo5-webgpu.log 2>&1; echo "grpo5 webgpu rc $?" >> $OUT/status.txt &
true
wait
for b in webgpu wasm; do cp /tmp/r/grpo5-$b/metrics.jsonl $OUT/grpo5-$b.metrics.jsonl 2>/dev/null; done
cat $OUT/status.txt; tail -n 6 $OUT/*.log
grep -h '"phase":"rl"' $OUT/grpo5-*.metrics.jsonl | cut -c1-400
