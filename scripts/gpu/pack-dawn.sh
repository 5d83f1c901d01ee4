#!/usr/bin/env bash
# After ../shared/gpu/prepare.sh: replace Dawn's 21 MB binary in .gpu/ by an xz copy (≈ 5 MB) and make .gpu/setup.sh
# unpack it on the device, so that a webgpu run (node + Dawn + bundle + the working tree) fits the 64 MiB carry limit.
#   usage: scripts/gpu/pack-dawn.sh
set -euo pipefail
root=$(git rev-parse --show-toplevel)
d=$root/.gpu/node_modules/webgpu/dist/linux-x64
[ -f "$d/dawn.node" ] && { xz -T2 -6 -c "$d/dawn.node" > "$d/dawn.node.xz"; rm "$d/dawn.node"; }
grep -q dawn.node.xz "$root/.gpu/setup.sh" || cat >> "$root/.gpu/setup.sh" <<'EOS'
# Dawn's binary travels xz-compressed (21 MB → 5 MB) to fit the carry limit.
d="$here/node_modules/webgpu/dist/linux-x64"
[ -f "$d/dawn.node" ] || { [ -f "$d/dawn.node.xz" ] && xz -d -c "$d/dawn.node.xz" > "$d/dawn.node"; }
EOS
du -sh "$root/.gpu"
