#!/usr/bin/env bash
# `make up` / `make down` with Vagrant, and `make test-vagrant`:
#
#   scripts/vagrant-cluster.sh up     VMs from the Vagrantfile (libvirt here, or VirtualBox), then playbooks/site.yml
#   scripts/vagrant-cluster.sh down   vagrant destroy
#   scripts/vagrant-cluster.sh test   host set-up (as root), box, up with libvirt, the smoke suite, down
#
# Everything this cluster makes on the controller (certificates, wheelhouse, image archive, admin.conf, the fact
# cache, the ssh configuration) lives in artifacts/vagrant/, apart from the Docker provider's artifacts/: both
# kinds of cluster can exist side by side. Ansible reaches the VMs with plain ssh and the configuration
# `vagrant ssh-config` prints (~1 s per connection, against 4-7 s for `vagrant ssh`), saved as
# artifacts/vagrant/ssh-config; inventory/vagrant uses it.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
ART=artifacts/vagrant
POOL=${KUBELING_LIBVIRT_POOL:-kubeling}
POOL_DIR=${KUBELING_LIBVIRT_POOL_DIR:-/var/lib/libvirt/kubeling-pool}
HOST_PACKAGES="vagrant vagrant-libvirt libvirt-daemon-system qemu-system-x86 qemu-utils debootstrap dnsmasq-base
extlinux syslinux-common rsync fdisk"
# The fact cache of ansible.cfg, moved beside the rest of this cluster's artifacts. Run playbooks by hand with
# the same variable: ANSIBLE_CACHE_PLUGIN_CONNECTION=artifacts/vagrant/facts ansible-playbook -i inventory/vagrant …
export ANSIBLE_CACHE_PLUGIN_CONNECTION=$PWD/$ART/facts

provider() {
  if [ -n "${VAGRANT_DEFAULT_PROVIDER:-}" ]; then echo "$VAGRANT_DEFAULT_PROVIDER"
  elif command -v VBoxManage >/dev/null 2>&1; then echo virtualbox
  else echo libvirt; fi
}

# libvirt without systemd as PID 1: the packages, the daemons started by hand, a storage pool.
libvirt_host() {
  local missing=""
  for p in $HOST_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || { echo "missing Debian packages:$missing (run as root)" >&2; exit 1; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  fi
  pgrep -x virtlogd >/dev/null || virtlogd -d
  pgrep -x libvirtd >/dev/null || libvirtd -d
  for _ in $(seq 30); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 1; done
  if ! virsh -c qemu:///system pool-info "$POOL" >/dev/null 2>&1; then
    mkdir -p "$POOL_DIR"
    virsh -c qemu:///system pool-define-as "$POOL" dir --target "$POOL_DIR" >/dev/null
    virsh -c qemu:///system pool-autostart "$POOL" >/dev/null
  fi
  # (pool-info read whole: `grep -q` closing the pipe early would fail it under pipefail)
  case "$(virsh -c qemu:///system pool-info "$POOL")" in
    *running*) ;;
    *) virsh -c qemu:///system pool-start "$POOL" >/dev/null ;;
  esac
  bash scripts/build-vagrant-box.sh
}

up() {
  local provider began
  provider=$(provider)
  [ "$provider" = libvirt ] && libvirt_host
  mkdir -p "$ART"
  began=$SECONDS
  vagrant up --provider="$provider"
  echo "VMs up in $((SECONDS - began))s"
  echo "vms_up_s=$((SECONDS - began))" >>"$ART/timings"
  vagrant ssh-config >"$ART/ssh-config"
  # The pods' images come from this machine's Docker (inventory/vagrant ships them like inventory/docker).
  if [ -x scripts/ensure-docker.sh ]; then scripts/ensure-docker.sh; fi
  if [ -f scripts/build-images.sh ]; then bash scripts/build-images.sh; fi
  bash scripts/build-web-images.sh
  began=$SECONDS
  "$VENV/bin/ansible-playbook" -i inventory/vagrant playbooks/site.yml
  echo "playbook_s=$((SECONDS - began))" >>"$ART/timings"
  echo
  echo "cluster is up in $((SECONDS - began))s (playbook). Admin kubeconfig: $ART/admin.conf"
  echo "try: kubectl --kubeconfig $ART/admin.conf get nodes"
  echo "live view: kubectl --kubeconfig $ART/admin.conf proxy, then open"
  echo "  http://127.0.0.1:8001/api/v1/namespaces/kube-system/services/https:kubeling-dashboard:https/proxy/"
}

down() {
  if command -v vagrant >/dev/null 2>&1; then vagrant destroy -f; fi
  # Addresses, the admin kubeconfig and ssh settings belong to the VMs just destroyed; the CA (pki/) stays.
  rm -rf "$ART/facts" "$ART/admin.conf" "$ART/ssh-config"
}

# Guests run 7-16x slower than the host under software emulation: the smoke suite's waits are stretched
# (KUBELING_SMOKE_TIMEOUT_FACTOR) and the VMs are destroyed at the end whatever happened (KUBELING_VAGRANT_KEEP=1
# keeps them, to look around after a failure).
test_vagrant() {
  export VAGRANT_DEFAULT_PROVIDER=libvirt
  local status=0 began
  trap '[ "${KUBELING_VAGRANT_KEEP:-0}" = 1 ] || down' EXIT
  mkdir -p "$ART"
  : >"$ART/timings"
  up
  began=$SECONDS
  KUBELING_SMOKE_KUBECONFIG=$ART/admin.conf KUBELING_SMOKE_INVENTORY=inventory/vagrant \
    KUBELING_SMOKE_TIMEOUT_FACTOR=${KUBELING_SMOKE_TIMEOUT_FACTOR:-5} \
    "$VENV/bin/pytest" tests/cluster_smoke -v -x -p no:cacheprovider || status=$?
  echo "smoke_s=$((SECONDS - began))" >>"$ART/timings"
  echo "timings (s): $(tr '\n' ' ' <"$ART/timings")"
  return "$status"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  test) test_vagrant ;;
  *) echo "usage: $0 up | down | test" >&2; exit 2 ;;
esac
