#!/usr/bin/env bash
# `make up PROVIDER=docker` and `make down` for the Docker provider: systemd containers stand in for machines,
# and the same playbook that configures real machines configures them (inventory/docker).
#
#   scripts/docker-cluster.sh up            build/cache the images, start the four nodes, run playbooks/site.yml
#   scripts/docker-cluster.sh start NAME..  only start node containers (e.g. worker-3 before playbooks/scale.yml)
#   scripts/docker-cluster.sh down          remove every node container, their network and the run's state
#
# Node containers are named kubeling-<node> and labelled io.kubeling.cluster=docker; nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
NETWORK=${KUBELING_DOCKER_NETWORK:-kubeling}
NODES=${KUBELING_DOCKER_NODES:-etcd-1 master-1 worker-1 worker-2}
IMAGE=kubeling/node:debian12
LABEL=io.kubeling.cluster=docker

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
    docker network create --label "$LABEL" "$NETWORK" >/dev/null
  for node in "$@"; do
    local container=kubeling-$node
    case "$(docker inspect --format '{{.State.Running}}' "$container" 2>/dev/null || echo missing)" in
      true) ;;
      false) docker start "$container" >/dev/null ;;
      *) docker run -d --name "$container" --hostname "$node" --network "$NETWORK" --label "$LABEL" \
           "${NODE_FLAGS[@]}" "$IMAGE" >/dev/null ;;
    esac
    echo "node $node: container $container"
  done
}

up() {
  images
  # shellcheck disable=SC2086 # a list of names
  start $NODES
  local began=$SECONDS
  "$VENV/bin/ansible-playbook" -i inventory/docker playbooks/site.yml
  echo
  echo "cluster is up in $((SECONDS - began))s (playbook). Admin kubeconfig: artifacts/admin.conf"
  echo "try: kubectl --kubeconfig artifacts/admin.conf get nodes"
  echo "live view: kubectl --kubeconfig artifacts/admin.conf proxy, then open"
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
  rm -rf artifacts/facts artifacts/admin.conf
  echo "docker cluster removed"
}

case "${1:-}" in
  up) up ;;
  start) shift; start "$@" ;;
  down) down ;;
  *) echo "usage: $0 up | start NODE... | down" >&2; exit 2 ;;
esac
