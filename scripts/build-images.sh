#!/usr/bin/env bash
# Build the images pods run here, from Debian's busybox-static, with no registry:
#   kubeling/busybox:1  a root of busybox and its applet links (sh, httpd, nc, sleep, …), CMD /bin/sh
#   kubeling/pause:1    the pod sandbox: holds the pod's network namespace and sleeps
# Idempotent: an image that exists is kept (FORCE=1 rebuilds).
set -euo pipefail

BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "$BUSYBOX is missing: apt-get install busybox-static" >&2; exit 1; }

exists() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

root_with_busybox() {
  local dir=$1
  mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/root" "$dir/var/www"
  chmod 1777 "$dir/tmp"
  cp "$BUSYBOX" "$dir/bin/busybox"
  echo "root:x:0:0:root:/root:/bin/sh" >"$dir/etc/passwd"
  echo "root:x:0:" >"$dir/etc/group"
  echo "nobody:x:65534:65534:nobody:/:/bin/false" >>"$dir/etc/passwd"
}

if ! exists kubeling/busybox:1; then
  work=$(mktemp -d)
  root_with_busybox "$work"
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$work/bin/$applet"
  done
  tar -C "$work" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' - kubeling/busybox:1 >/dev/null
  rm -rf "$work"
  echo "built kubeling/busybox:1"
fi

if ! exists kubeling/pause:1; then
  work=$(mktemp -d)
  root_with_busybox "$work"
  ln -sf busybox "$work/bin/sleep"
  # `sleep infinity` as PID 1 ignores SIGTERM; docker stop then kills it, which is what a sandbox needs.
  tar -C "$work" -c . | docker import -c 'CMD ["/bin/sleep", "infinity"]' - kubeling/pause:1 >/dev/null
  rm -rf "$work"
  echo "built kubeling/pause:1"
fi
