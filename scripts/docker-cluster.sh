#!/usr/bin/env bash
# `make up PROVIDER=docker` and `make down` for the Docker provider: systemd containers stand in for machines,
# and the same playbook that configures real machines configures them (inventory/docker).
#
#   scripts/docker-cluster.sh up            build/cache the images, start the four nodes, run playbooks/site.yml
#   scripts/docker-cluster.sh start NAME..  only start node containers (e.g. worker-3 before playbooks/scale.yml)
#   scripts/docker-cluster.sh down          remove every node container, their network and the run's state
#
# TOPOLOGY=plain (the default): etcd-1, master-1, worker-1, worker-2 from inventory/docker. Containers are named
# kubeling-<node>, labelled io.kubeling.cluster=docker, on the network `kubeling`; state in artifacts/.
# TOPOLOGY=ha: master-1..3 (each also an etcd member) and worker-1..2 from inventory/docker-ha, behind the virtual
# address 10.210.0.200. Containers are named kubeling-ha-<node>, labelled io.kubeling.cluster=docker-ha, on the
# network `kubeling-ha` (a fixed subnet, so the inventory can name the virtual address); state in artifacts/ha/.
# The two kinds can run side by side; `down` removes only its own kind. Nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
IMAGE=kubeling/node:debian12
case "${TOPOLOGY:-plain}" in
  plain)
    NETWORK=${KUBELING_DOCKER_NETWORK:-kubeling}
    NODES=${KUBELING_DOCKER_NODES:-etcd-1 master-1 worker-1 worker-2}
    LABEL=io.kubeling.cluster=docker
    PREFIX=kubeling-
    INVENTORY=inventory/docker
    ART=artifacts
    NETWORK_FLAGS=()
    ADDRESSES=""
    ;;
  ha)
    NETWORK=kubeling-ha
    NODES=${KUBELING_DOCKER_NODES:-master-1 master-2 master-3 worker-1 worker-2}
    LABEL=io.kubeling.cluster=docker-ha
    PREFIX=kubeling-ha-
    INVENTORY=inventory/docker-ha
    ART=artifacts/ha
    # Containers take addresses from the lower half; the virtual address (kubeling_api_vip in
    # inventory/docker-ha/group_vars/all.yml, 10.210.0.200) is in the upper half, where Docker never hands one out.
    NETWORK_FLAGS=(--subnet 10.210.0.0/24 --ip-range 10.210.0.0/25 --gateway 10.210.0.1)
    # Fixed addresses, so a master stopped and started again keeps its own (etcd's peers know it by address).
    ADDRESSES="master-1=10.210.0.11 master-2=10.210.0.12 master-3=10.210.0.13 worker-1=10.210.0.21
      worker-2=10.210.0.22 worker-3=10.210.0.23"
    # The fact cache of ansible.cfg, apart from the plain cluster's (the node names overlap). Run playbooks by
    # hand with it: ANSIBLE_CACHE_PLUGIN_CONNECTION=artifacts/ha/facts ansible-playbook -i inventory/docker-ha …
    export ANSIBLE_CACHE_PLUGIN_CONNECTION=$PWD/$ART/facts
    ;;
  *) echo "TOPOLOGY must be plain or ha, not ${TOPOLOGY}" >&2; exit 2 ;;
esac

# What a systemd node with Docker inside needs (see images/node/build.sh; --privileged is refused on our
# machines). /proc/sys is read-only inside, so the sysctls the network and the proxy need are set here.
NODE_FLAGS=(
  --cap-add SYS_ADMIN --cap-add NET_ADMIN
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp
  -v /var/lib/docker
  --sysctl net.ipv4.ip_forward=1 --sysctl net.ipv4.conf.all.route_localnet=1
  --stop-signal SIGRTMIN+3
)

images() {
  if [ -x scripts/ensure-docker.sh ]; then scripts/ensure-docker.sh; fi
  bash images/node/build.sh
  if [ -f scripts/build-images.sh ]; then bash scripts/build-images.sh; fi
  bash scripts/build-web-images.sh
}

start() {
  docker network inspect "$NETWORK" >/dev/null 2>&1 ||
    docker network create --label "$LABEL" "${NETWORK_FLAGS[@]}" "$NETWORK" >/dev/null
  for node in "$@"; do
    local container=$PREFIX$node address=() pair
    for pair in $ADDRESSES; do [ "${pair%%=*}" = "$node" ] && address=(--ip "${pair#*=}"); done
    case "$(docker inspect --format '{{.State.Running}}' "$container" 2>/dev/null || echo missing)" in
      true) ;;
      false) docker start "$container" >/dev/null ;;
      *) docker run -d --name "$container" --hostname "$node" --network "$NETWORK" "${address[@]}" \
           --label "$LABEL" "${NODE_FLAGS[@]}" "$IMAGE" >/dev/null ;;
    esac
    echo "node $node: container $container"
  done
}

up() {
  images
  # shellcheck disable=SC2086 # a list of names
  start $NODES
  local began=$SECONDS
  "$VENV/bin/ansible-playbook" -i "$INVENTORY" playbooks/site.yml
  echo
  echo "cluster is up in $((SECONDS - began))s (playbook). Admin kubeconfig: $ART/admin.conf"
  echo "try: kubectl --kubeconfig $ART/admin.conf get nodes"
  echo "live view: kubectl --kubeconfig $ART/admin.conf proxy, then open"
  echo "  http://127.0.0.1:8001/api/v1/namespaces/kube-system/services/https:kubeling-dashboard:https/proxy/"
}

down() {
  local containers
  containers=$(docker ps -aq --filter "label=$LABEL")
  if [ -n "$containers" ]; then
    # shellcheck disable=SC2086
    docker rm -f -v $containers >/dev/null
  fi
  docker network rm "$NETWORK" >/dev/null 2>&1 || true
  # Addresses and the admin kubeconfig belong to the containers just removed; the CA (artifacts/pki) stays.
  rm -rf "$ART/facts" "$ART/admin.conf"
  echo "docker cluster removed (${TOPOLOGY:-plain})"
}

case "${1:-}" in
  up) up ;;
  start) shift; start "$@" ;;
  down) down ;;
  *) echo "usage: $0 up | start NODE... | down" >&2; exit 2 ;;
esac
