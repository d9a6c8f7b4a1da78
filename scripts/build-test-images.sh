#!/usr/bin/env bash
# Builds the test images as OCI archives from Debian packages, offline (no registry is
# reachable): hakube.local/pause:1, hakube.local/busybox:1 and hakube.local/nginx:1.27 (also
# tagged docker.io/library/nginx:1.27). Import one with
#   ctr -a <socket> -n k8s.io images import OUTDIR/<name>.tar
# Needs umoci, busybox-static, nginx-light and python3 (scripts/install-deps.sh installs them).
set -euo pipefail

out=${1:?usage: scripts/build-test-images.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# new_image NAME: an empty image layout $work/NAME with an unpacked bundle $work/NAME-bundle.
new_image() {
  umoci init --layout "$work/$1"
  umoci new --image "$work/$1:1"
  umoci unpack --image "$work/$1:1" "$work/$1-bundle" >/dev/null
}

# install_busybox ROOTFS [all]: the static busybox as /bin/sh (and every applet with "all").
install_busybox() {
  mkdir -p "$1/bin" "$1/tmp"
  chmod 1777 "$1/tmp"
  cp /bin/busybox "$1/bin/busybox"
  ln -sf busybox "$1/bin/sh"
  if [ "${2:-}" = all ]; then
    mkdir -p "$1/sbin" "$1/usr/bin" "$1/usr/sbin"
    chroot "$1" /bin/busybox --install -s
  else
    ln -sf busybox "$1/bin/sleep"
  fi
}

# finish_image NAME ARCHIVE IMAGE-NAME... [-- umoci config flags]: repack, configure, annotate
# the index entry with each name (containerd's importer needs io.containerd.image.name), pack.
finish_image() {
  local layout=$1 archive=$2
  shift 2
  local names=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do names+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  umoci repack --image "$work/$layout:1" "$work/$layout-bundle"
  umoci config --image "$work/$layout:1" "$@"
  python3 - "$work/$layout/index.json" "${names[@]}" <<'PY'
import json, sys
path, names = sys.argv[1], sys.argv[2:]
index = json.load(open(path))
entry = index["manifests"][0]
index["manifests"] = [
    dict(entry, annotations={"io.containerd.image.name": name,
                             "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]})
    for name in names
]
json.dump(index, open(path, "w"))
PY
  tar -C "$work/$layout" -cf "$out/$archive" .
  echo "built $out/$archive: ${names[*]}"
}

# pause: a shell that sleeps until SIGTERM, then exits 0.
new_image pause
install_busybox "$work/pause-bundle/rootfs"
finish_image pause pause.tar hakube.local/pause:1 -- \
  --config.env PATH=/bin \
  --config.entrypoint /bin/sh --config.entrypoint -c \
  --config.entrypoint 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'

# busybox: every applet, default command sh, a page in /www for httpd.
new_image busybox
rootfs="$work/busybox-bundle/rootfs"
install_busybox "$rootfs" all
mkdir -p "$rootfs/www"
echo "hello from busybox" >"$rootfs/www/index.html"
finish_image busybox busybox.tar hakube.local/busybox:1 -- \
  --config.env PATH=/bin:/sbin:/usr/bin:/usr/sbin --config.cmd sh

# nginx: Debian's nginx-light binary with the libraries ldd lists, serving a page on :80,
# logging to stdout/stderr, pid and temp files in /tmp.
new_image nginx
rootfs="$work/nginx-bundle/rootfs"
mkdir -p "$rootfs/usr/sbin" "$rootfs/etc/nginx" "$rootfs/usr/share/nginx/html" "$rootfs/tmp" \
  "$rootfs/var/log/nginx" "$rootfs/var/lib/nginx"
chmod 1777 "$rootfs/tmp"
cp /usr/sbin/nginx "$rootfs/usr/sbin/nginx"
for library in $(ldd /usr/sbin/nginx | grep -o '/[^ ]*'); do
  cp -L --parents "$library" "$rootfs/"
done
cp /etc/nginx/mime.types "$rootfs/etc/nginx/mime.types"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
echo "hello from nginx" >"$rootfs/usr/share/nginx/html/index.html"
cat >"$rootfs/etc/nginx/nginx.conf" <<'CONF'
user nobody nogroup;
worker_processes 1;
pid /tmp/nginx.pid;
error_log /dev/stderr notice;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  access_log /dev/stdout;
  client_body_temp_path /tmp/client_body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  server {
    listen 80;
    root /usr/share/nginx/html;
    location / { index index.html; }
  }
}
CONF
finish_image nginx nginx.tar hakube.local/nginx:1.27 docker.io/library/nginx:1.27 -- \
  --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  --config.entrypoint /usr/sbin/nginx \
  --config.cmd -e --config.cmd stderr --config.cmd -g --config.cmd 'daemon off;' \
  --config.exposedports 80/tcp --config.stopsignal SIGQUIT
