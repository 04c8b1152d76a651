#!/usr/bin/env bash
# Make sure a Docker engine answers: start dockerd by hand when nothing else runs it (no systemd as PID 1 on the
# test machines). Idempotent.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd is not installed (apt-get install docker.io, or run: sudo make deps)" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "Docker is not running and only root can start it here: start it (systemctl start docker)" >&2
  exit 1
fi
mkdir -p /var/log
nohup dockerd >/var/log/kubeling-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not come up within 30 s; see /var/log/kubeling-dockerd.log" >&2
exit 1
