#!/usr/bin/env bash
# Build `kubeling/node:debian12`: a Debian 12 root with systemd as PID 1 and Docker inside, for test "machines".
#
# Generic on purpose (the provisioning work reuses it): nothing of kubeling is inside; tests copy or bind-mount it.
# No registry is reachable, so the root is debootstrapped from the Debian mirror this machine's apt already uses
# and imported with `docker import`. Idempotent: does nothing when the image exists (FORCE=1 rebuilds).
#
# Run a node with exactly these flags (`--privileged` is refused on the test machine; see docs/networking.md):
#   docker run -d --cap-add SYS_ADMIN --cap-add NET_ADMIN \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#     --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
#     -v /var/lib/docker --sysctl net.ipv4.ip_forward=1 --stop-signal SIGRTMIN+3 kubeling/node:debian12
# (`docker import` cannot record STOPSIGNAL; systemd shuts down cleanly on SIGRTMIN+3.)
set -euo pipefail

IMAGE=${IMAGE:-kubeling/node:debian12}
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,dbus,iproute2,iptables,docker.io,busybox-static,python3,python3-venv,ca-certificates,procps,kmod,iputils-ping,conntrack,nfs-common,nfs-kernel-server

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE exists"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "building $IMAGE needs root (debootstrap)" >&2
  exit 1
fi
command -v debootstrap >/dev/null || {
  echo "debootstrap is missing: apt-get install debootstrap" >&2
  exit 1
}

# The first Debian (not -security, not a third-party) URI apt is configured with, in deb822 or one-line format.
mirror() {
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v -- '-security' \
    | grep -m1 '/debian/\?$' || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' \
      | grep -v -- '-security' | grep -m1 '/debian/\?$' || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

MIRROR=$(mirror)
WORK=$(mktemp -d /var/tmp/kubeling-node.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOTFS=$WORK/rootfs

echo "debootstrap $SUITE from $MIRROR into $ROOTFS"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 30 "$WORK/debootstrap.log" >&2
  exit 1
}

cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
EOF

# The node's root is overlayfs, where the nested dockerd cannot stack overlay2: use vfs unless the container gets
# a volume at /var/lib/docker (then the test may switch to overlay2). Tiny images make vfs cheap enough.
mkdir -p "$ROOTFS/etc/docker"
cat >"$ROOTFS/etc/docker/daemon.json" <<'EOF'
{
  "storage-driver": "vfs",
  "iptables": true,
  "log-driver": "json-file"
}
EOF

# A container needs none of these, and some of them hang or fail without real hardware or consoles.
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
  systemd-modules-load.service systemd-remount-fs.service sys-kernel-config.mount sys-kernel-debug.mount \
  sys-kernel-tracing.mount systemd-firstboot.service systemd-journald-audit.socket; do
  ln -sf /dev/null "$ROOTFS/etc/systemd/system/$unit"
done

# Each container gets its own machine id on first boot; an empty file tells systemd to make one.
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id"
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/log/*.log \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/*
# debootstrap leaves the build host's resolver behind; docker writes the container's own at run time.
rm -f "$ROOTFS/etc/resolv.conf" "$ROOTFS/etc/hostname"

tar -C "$ROOTFS" --numeric-owner -c . | docker import \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change 'ENV container=docker' \
  - "$IMAGE" >/dev/null
echo "built $IMAGE"
