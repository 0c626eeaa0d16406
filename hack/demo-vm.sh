#!/usr/bin/env bash
# One command to see osfleet on a real (virtual) machine, without a cluster of machines: builds the
# node images with `osfleet image build`, starts the local control plane the tests use (kube-apiserver,
# etcd, kube-controller-manager, a git server) and the controller, boots one node under QEMU, and shows
# its serial console while git pushes move it: first boot on slot A, an upgrade to 2.0.0 into slot B
# (with a power cut mid-download), a rollback by `git revert`, three slots that cannot boot and one
# that fails its health check, each falling back to slot A by itself. Needs root (image build) and
# about 20 minutes under software emulation (TCG). Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "hack/demo-vm.sh: run as root (building images needs chroot and device nodes)" >&2; exit 1; }
bash hack/deps.sh
bash hack/build-k8s.sh >/dev/null
# The tested Node (Node 24, fetched and cached when the machine's is older), as `npm test` uses.
node_bin="$(bash hack/node.sh)"
export PATH="$(dirname "$node_bin"):$PATH"
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build >/dev/null
npx tsx test/vm/images.ts
OSFLEET_VM_DIR="$(mktemp -d /tmp/osfleet-demo.XXXXXX)"
export OSFLEET_VM_DIR OSFLEET_KEEP_LOGS=1
echo "hack/demo-vm.sh: the node's console follows; the story's steps and results are in $OSFLEET_VM_DIR/story.log" >&2
npx vitest run --project integration test/vm/node.test.ts --reporter=verbose >"$OSFLEET_VM_DIR/story.log" 2>&1 &
story=$!
trap 'kill $story 2>/dev/null || true' INT TERM
until compgen -G "$OSFLEET_VM_DIR/*.console.log" >/dev/null; do
  kill -0 "$story" 2>/dev/null || break
  sleep 1
done
if compgen -G "$OSFLEET_VM_DIR/*.console.log" >/dev/null; then tail -n +1 -F --pid="$story" "$OSFLEET_VM_DIR"/*.console.log; fi
code=0; wait "$story" || code=$?
echo; grep -E "✓|×|VM figures|passed|failed" "$OSFLEET_VM_DIR/story.log" || true
exit $code
