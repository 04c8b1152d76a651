#!/usr/bin/env bash
# Build the libvirt box `kubeling/debian12` locally (no box can be downloaded here) and add it to Vagrant.
# Debian 12 from the mirror this machine's apt uses, with everything the nodes need installed now (the VMs get no
# route to a package mirror): systemd, SSH, sudo, Python, Docker, iptables, AppArmor (Debian's kernel enables it,
# and Docker then refuses to start any container without apparmor_parser). Follows
# ../shared/reference/vagrant-libvirt.md: the host kernel has no partition-table loop support and no NBD, so the
# disk is a raw file with one partition reached through an offset loop device, booted by extlinux.
# Idempotent: does nothing when the box was added by this very script (its digest is recorded beside the build;
# an edited script rebuilds; FORCE=1 rebuilds). Needs root, and no VM left on the old box (`make down` first).
set -euo pipefail
RECIPE=$(sha256sum "$0" | cut -d' ' -f1)  # this script's digest: a changed recipe rebuilds the box
cd "$(dirname "$0")/.."

BOX_NAME=${BOX_NAME:-kubeling/debian12}
WORK_DIR=${WORK_DIR:-.cache/vagrant-box}
SIZE_GB=8
PACKAGES=linux-image-amd64,systemd-sysv,udev,openssh-server,sudo,python3,python3-venv,ifupdown,isc-dhcp-client,\
iproute2,initramfs-tools,dbus,netbase,ca-certificates,procps,rsync,iputils-ping,docker.io,iptables,conntrack,\
busybox-static,kmod,apparmor

STAMP=$WORK_DIR/box.recipe
# (the box list read whole: `grep -q` closing the pipe early would fail it under pipefail)
if [ "${FORCE:-0}" != 1 ] && grep -q "^$BOX_NAME " <<<"$(vagrant box list 2>/dev/null)" \
    && [ "$(cat "$STAMP" 2>/dev/null)" = "$RECIPE" ]; then
  echo "box $BOX_NAME exists"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "building the box needs root" >&2; exit 1; }

mirror() {  # the host's Debian mirror (deb822 or one-line sources)
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v -- '-security' \
    | grep -m1 '/debian/\?$' || true)
  [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' \
    | grep -v -- '-security' | grep -m1 '/debian/\?$' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

MIRROR=$(mirror)
mkdir -p "$WORK_DIR"
WORK=$(cd "$WORK_DIR" && pwd)
ROOTFS=$WORK/rootfs MNT=$WORK/mnt IMG=$WORK/disk.raw
LOOP=
cleanup() {
  mountpoint -q "$MNT" && umount "$MNT"
  [ -n "$LOOP" ] && losetup -d "$LOOP"
  return 0
}
trap cleanup EXIT

# The root file system is kept between attempts (FORCE=1 or removing .cache/vagrant-box starts afresh).
if [ "${FORCE:-0}" = 1 ] || [ ! -f "$ROOTFS/.kubeling-root-complete" ]; then
rm -rf "$ROOTFS"
echo "debootstrap bookworm from $MIRROR (a few minutes)"
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 30 "$WORK/debootstrap.log" >&2
  exit 1
}
echo "deb $MIRROR bookworm main" >"$ROOTFS/etc/apt/sources.list"

# The vagrant user with Vagrant's insecure key (shipped with Debian's vagrant package), passwordless sudo.
INSECURE_KEY=$(grep -m1 'keys/vagrant.pub$' /var/lib/dpkg/info/vagrant.list)
chroot "$ROOTFS" useradd --create-home --shell /bin/bash vagrant
install -d -m 700 -o 1000 -g 1000 "$ROOTFS/home/vagrant/.ssh"
install -m 600 -o 1000 -g 1000 "$INSECURE_KEY" "$ROOTFS/home/vagrant/.ssh/authorized_keys"
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' >"$ROOTFS/etc/sudoers.d/vagrant"
chmod 440 "$ROOTFS/etc/sudoers.d/vagrant"

# Each VM makes its own (ed25519 only: RSA takes ~26 s under emulation) host key at first boot.
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
echo 'HostKey /etc/ssh/ssh_host_ed25519_key' >"$ROOTFS/etc/ssh/sshd_config.d/kubeling.conf"
cat >"$ROOTFS/etc/systemd/system/ssh-hostkey.service" <<'UNIT'
[Unit]
Description=Make this machine's SSH host key
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
[Install]
WantedBy=multi-user.target
UNIT
chroot "$ROOTFS" systemctl enable ssh-hostkey.service >/dev/null 2>&1
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id"

# eth0 on DHCP (Vagrant writes eth1's stanza); ifup@eth1 may run before that: not a failure.
cat >"$ROOTFS/etc/network/interfaces" <<'NET'
auto lo
iface lo inet loopback
allow-hotplug eth0
iface eth0 inet dhcp
source /etc/network/interfaces.d/*
NET
mkdir -p "$ROOTFS/etc/systemd/system/ifup@.service.d"
printf '[Service]\nSuccessExitStatus=1\n' >"$ROOTFS/etc/systemd/system/ifup@.service.d/kubeling.conf"
ln -sf /dev/null "$ROOTFS/etc/systemd/system/e2scrub_reap.service"  # slow under emulation
echo "kubeling" >"$ROOTFS/etc/hostname"
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/*
touch "$ROOTFS/.kubeling-root-complete"
fi

# The box's base volume backs every VM made from it: never replace it under a VM (the root file system made so
# far is kept for the next attempt).
for domain in $(virsh -c qemu:///system list --all --name 2>/dev/null); do
  for disk in $(virsh -c qemu:///system domblklist "$domain" 2>/dev/null | awk 'NR > 2 && $2 ~ /^\// {print $2}'); do
    if qemu-img info -U "$disk" 2>/dev/null | grep -q "backing file: .*${BOX_NAME//\//-VAGRANTSLASH-}"; then
      echo "VM $domain runs on the current $BOX_NAME box: destroy it first (make down PROVIDER=vagrant)" >&2
      exit 1
    fi
  done
done

echo "making the disk"
truncate -s "${SIZE_GB}G" "$IMG"
echo 'start=2048, type=83, bootable' | sfdisk -q "$IMG"
LOOP=$(losetup --find --show --offset 1048576 "$IMG")
mkfs.ext4 -q -O ^64bit -E lazy_itable_init=0,lazy_journal_init=0 -L root "$LOOP"
mkdir -p "$MNT"
mount "$LOOP" "$MNT"
rsync -aHAX --exclude=/.kubeling-root-complete "$ROOTFS/" "$MNT/"
echo 'LABEL=root / ext4 errors=remount-ro 0 1' >"$MNT/etc/fstab"
mkdir -p "$MNT/boot/extlinux"
KERNEL=$(basename "$(ls "$MNT"/boot/vmlinuz-* | sort | tail -1)")
INITRD=$(basename "$(ls "$MNT"/boot/initrd.img-* | sort | tail -1)")
cat >"$MNT/boot/extlinux/extlinux.conf" <<CONF
DEFAULT debian
TIMEOUT 1
LABEL debian
  LINUX /boot/$KERNEL
  INITRD /boot/$INITRD
  APPEND root=LABEL=root ro net.ifnames=0 console=ttyS0 quiet
CONF
extlinux --install "$MNT/boot/extlinux" >/dev/null
umount "$MNT"
losetup -d "$LOOP"
LOOP=
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$IMG" bs=440 count=1 conv=notrunc status=none

echo "packing the box"
qemu-img convert -c -O qcow2 "$IMG" "$WORK/box.img"
rm -f "$IMG"
echo "{\"provider\":\"libvirt\",\"format\":\"qcow2\",\"virtual_size\":$SIZE_GB}" >"$WORK/metadata.json"
cat >"$WORK/Vagrantfile" <<'VF'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.driver = "qemu"
  end
end
VF
tar -C "$WORK" -czf "$WORK/kubeling-debian12.box" metadata.json Vagrantfile box.img
# A rebuilt box needs the old base volume gone from the storage pool first.
virsh -c qemu:///system vol-list "${KUBELING_LIBVIRT_POOL:-kubeling}" 2>/dev/null | awk '/kubeling-VAGRANTSLASH-debian12/ {print $1}' \
  | xargs -r -n1 virsh -c qemu:///system vol-delete --pool "${KUBELING_LIBVIRT_POOL:-kubeling}" >/dev/null || true
vagrant box add --force --name "$BOX_NAME" "$WORK/kubeling-debian12.box"
rm -rf "$ROOTFS" "$WORK/box.img"
echo "$RECIPE" >"$STAMP"
echo "added box $BOX_NAME"
