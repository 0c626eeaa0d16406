#!/usr/bin/env bash
# Runs every test: unit, then integration on a real kube-apiserver/etcd/kube-controller-manager and git server.
# Installs what the tests need first (Debian packages, Kubernetes binaries built from Go modules, cached)
# and runs everything on the Node the images ship (hack/node.sh: Node 24, fetched and cached when the
# machine's Node is another version): vitest, the controller and agent processes the tests start.
# Ends with one plain line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

# A set-up failure still ends with the summary line: no test ran, and the run failed.
setup_failed() { echo "hack/test.sh: $1 failed (see above)" >&2; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
bash hack/deps.sh || setup_failed "installing host packages"
bash hack/build-k8s.sh >/dev/null || setup_failed "building the Kubernetes test binaries"
node_bin="$(bash hack/node.sh)" || setup_failed "provisioning the tested Node"
export PATH="$(dirname "$node_bin"):$PATH"
# dist/ (tsc and the client-node bundle): what the node images the VM tests boot carry (test/vm/, built
# by `osfleet image build` and cached by their inputs), and what the sync test runs as the controller.
npm run --silent build >/dev/null || setup_failed "building osfleet (dist/)"
npx tsx test/vm/images.ts || setup_failed "building the VM test images (test/vm/images.ts)"

report="$(mktemp -d)/vitest.json"
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
code=$?

node -e '
  const fs = require("fs");
  let r;
  try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); }
  catch (e) { console.log("0 passed, 1 failed, 0 skipped"); process.exit(0); }
  // A test file that fails to load counts as a failure even though it ran no test.
  const brokenFiles = (r.testResults || []).filter((f) => f.status === "failed" && (f.assertionResults || []).length === 0).length;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$report"
exit $code
