#!/bin/bash
# Copy of the device-side benchmark script (issue 8); run from the repository root on the device after
#   npm run bundle && ../shared/gpu/prepare.sh .gpu/mmrl.mjs && bash scripts/gpu/pack-dawn.sh \
#     && cp scripts/gpu/*.sh ../shared/bench/torch-reference.py .gpu/
# then: run(command="bash .gpu/bench-all.sh", carry=[".gpu"]). One call, at most 590 s of timeouts (the device allows 600 s a call); everything lands in $OUT:
#   torch.jsonl   PyTorch eager fp32 on CUDA: the bench model (32 × 128, d 128, 4 layers) and the 25M model; on the CPU
#                 with 8 threads: the bench model
#   bench.jsonl   `npm run bench` lines: webgpu with mmrl's fused kernels, webgpu stock tfjs, wasm with 1 and 8 threads
#   bench.log     the benchmarks' progress (stderr)
. .gpu/setup.sh
cd "$(dirname "$0")/.." || exit 1
status() { echo "$1 rc $2" >> "$OUT/status.txt"; }
timeout 60 python3 .gpu/torch-reference.py 16 cuda 32 128 128 4 >> "$OUT/torch.jsonl" 2>> "$OUT/bench.log"; status torch-small $?
timeout 90 python3 .gpu/torch-reference.py 16 cuda 64 256 512 8 >> "$OUT/torch.jsonl" 2>> "$OUT/bench.log"; status torch-25m $?
timeout 40 python3 .gpu/torch-reference.py 8 cpu 32 128 128 4 >> "$OUT/torch.jsonl" 2>> "$OUT/bench.log"; status torch-cpu8 $?
B="node .gpu/bench.mjs"
timeout 170 $B --backend webgpu --only op-overhead,transformer,transformer-25m,vlm-student,vlm-expert --sampling cached --steps 3 \
  >> "$OUT/bench.jsonl" 2>> "$OUT/bench.log"; status webgpu-fused $?
timeout 100 $B --backend webgpu --no-kernel-fixes --only transformer,transformer-25m,vlm-student --sampling none --steps 2 \
  >> "$OUT/bench.jsonl" 2>> "$OUT/bench.log"; status webgpu-stock $?
timeout 80 $B --backend wasm --threads 1 --only op-overhead,transformer,vlm-student,vlm-expert --sampling cached --steps 2 \
  >> "$OUT/bench.jsonl" 2>> "$OUT/bench.log"; status wasm-1 $?
timeout 50 $B --backend wasm --threads 8 --only transformer,vlm-student,vlm-expert --sampling cached --steps 2 \
  >> "$OUT/bench.jsonl" 2>> "$OUT/bench.log"; status wasm-8 $?
cat "$OUT/status.txt" "$OUT/torch.jsonl" "$OUT/bench.jsonl"
