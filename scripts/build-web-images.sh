#!/usr/bin/env bash
# Build the smoke suite's web server images, kubeling/web:1 and kubeling/web:2, from kubeling/busybox:1
# (scripts/build-images.sh): busybox httpd serving "kubeling web v<N>" on port 80. Two tags with different
# content let the smoke suite check a rolling update. No registry is needed: `docker commit` of a container.
# Idempotent: skips tags that exist (FORCE=1 rebuilds).
set -euo pipefail

BASE=${BASE:-kubeling/busybox:1}
docker image inspect "$BASE" >/dev/null 2>&1 || {
  echo "$BASE is missing: run scripts/build-images.sh first" >&2
  exit 1
}

for version in 1 2; do
  image=kubeling/web:$version
  if [ "${FORCE:-0}" != 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
    continue
  fi
  work=$(mktemp -d)
  mkdir -p "$work/www"
  echo "kubeling web v$version" >"$work/www/index.html"
  container=$(docker create "$BASE" /bin/sh)
  tar -C "$work" -c www | docker cp - "$container:/"
  docker commit \
    --change 'CMD ["/bin/busybox", "httpd", "-f", "-v", "-p", "80", "-h", "/www"]' \
    --change 'EXPOSE 80' \
    --change "LABEL io.kubeling.web.version=$version" \
    "$container" "$image" >/dev/null
  docker rm "$container" >/dev/null
  rm -rf "$work"
  echo "built $image"
done
