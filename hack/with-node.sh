#!/usr/bin/env bash
# Runs a command with the tested Node (hack/node.sh) first in PATH, so it and every `node`,
# `npx` or `#!/usr/bin/env node` script it starts run on that Node: `bash hack/with-node.sh CMD...`.
set -euo pipefail
node_bin="$(bash "$(dirname "${BASH_SOURCE[0]}")/node.sh")"
PATH="$(dirname "$node_bin"):$PATH"
export PATH
exec "$@"
