#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries the integration test bed runs
# (kube-apiserver, kube-controller-manager, etcd, kubectl) from the module
# pinned in hack/k8s-bin/go.mod, into a per-version cache:
#
#   ${OSFLEET_K8S_CACHE:-~/.cache/osfleet/k8s}/<kubernetes version>/
#
# Idempotent: a stamp file records the go.sum hash and every binary's sha256;
# when they all match, the script prints the directory and exits. Two runs at
# once are safe: the second waits on a lock and then finds the stamp.
#
# Prints the binaries directory as the last line of stdout; progress goes to
# stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod_dir="$here/k8s-bin"
min_go_minor=24 # go.mod uses `tool` directives and Kubernetes 1.34 needs go1.24

log() { printf 'build-k8s: %s\n' "$*" >&2; }
die() { printf 'build-k8s: error: %s\n' "$*" >&2; exit 1; }

install_hint="Install Go 1.${min_go_minor} or newer from https://go.dev/dl/ (e.g. unpack it to /usr/local/go and add /usr/local/go/bin to PATH), then run: bash hack/build-k8s.sh"

command -v go >/dev/null 2>&1 || die "Go is not installed (no 'go' on PATH). $install_hint"
go_version="$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null || true)"
if [[ ! "$go_version" =~ ^go1\.([0-9]+) ]]; then
  die "cannot read the Go version (got '${go_version}'). $install_hint"
fi
if (( BASH_REMATCH[1] < min_go_minor )); then
  die "Go ${go_version#go} is too old to build Kubernetes 1.34. $install_hint"
fi

mod_version() { # module path -> version required in go.mod
  awk -v m="$1" '$1 == m && $2 ~ /^v[0-9]/ { print $2; exit }' "$mod_dir/go.mod"
}
kube_version="$(mod_version k8s.io/kubernetes)"
etcd_version="$(mod_version go.etcd.io/etcd/server/v3)"
[[ -n "$kube_version" && -n "$etcd_version" ]] || die "cannot read pinned versions from $mod_dir/go.mod"

cache_root="${OSFLEET_K8S_CACHE:-$HOME/.cache/osfleet/k8s}"
out_dir="$cache_root/$kube_version"
stamp="$out_dir/.stamp"
binaries=(kube-apiserver kube-controller-manager kubectl etcd)

sha256() { sha256sum "$1" | awk '{ print $1 }'; }
sum_hash="$(sha256 "$mod_dir/go.sum")"

expected_stamp() {
  echo "kubernetes $kube_version"
  echo "etcd $etcd_version"
  echo "go.sum $sum_hash"
  local b
  for b in "${binaries[@]}"; do
    [[ -f "$out_dir/$b" ]] || return 1
    echo "$b $(sha256 "$out_dir/$b")"
  done
}

is_intact() {
  [[ -f "$stamp" ]] || return 1
  local want
  want="$(expected_stamp)" || return 1
  [[ "$want" == "$(cat "$stamp")" ]]
}

if is_intact; then
  echo "$out_dir"
  exit 0
fi

mkdir -p "$cache_root"
lock_file="$cache_root/.build-$kube_version.lock"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$lock_file"
  if ! flock -n 9; then
    log "another build holds $lock_file; waiting for it"
    flock 9
  fi
else
  # No util-linux (e.g. macOS): mkdir is atomic, so it serves as a lock.
  until mkdir "$lock_file.d" 2>/dev/null; do
    log "another build holds $lock_file.d; waiting (remove it if no build is running)"
    sleep 5
  done
  trap 'rmdir "$lock_file.d" 2>/dev/null || true' EXIT
fi

# The build we waited for may have produced everything.
if is_intact; then
  echo "$out_dir"
  exit 0
fi

log "building Kubernetes $kube_version and etcd $etcd_version with $go_version into $out_dir"
log "a cold build downloads ~850 MiB of modules, fills ~3 GiB of Go build cache and takes ~6 minutes on 2 cores"
start=$(date +%s)

stage="$(mktemp -d "$cache_root/.stage-XXXXXX")"
trap 'rm -rf "$stage"; rmdir "$lock_file.d" 2>/dev/null || true' EXIT

minor="${kube_version#v1.}"; minor="${minor%%.*}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version"
  ldflags+=" -X $pkg.gitMajor=1"
  ldflags+=" -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
  ldflags+=" -X $pkg.buildDate=$build_date"
done

(
  cd "$mod_dir"
  # The go.etcd.io/etcd/server/v3 main package would be written as "server";
  # build it on its own so it can be named etcd.
  CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -trimpath -ldflags "$ldflags" -o "$stage/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kubectl
  CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -trimpath -ldflags "-s -w" -o "$stage/etcd" go.etcd.io/etcd/server/v3
)

mkdir -p "$out_dir"
rm -f "$stamp"
for b in "${binaries[@]}"; do
  mv -f "$stage/$b" "$out_dir/$b"
done
expected_stamp >"$stamp.tmp"
mv -f "$stamp.tmp" "$stamp"

log "built in $(( $(date +%s) - start ))s"
"$out_dir/kube-apiserver" --version >&2
"$out_dir/etcd" --version | head -1 >&2
echo "$out_dir"
