#!/usr/bin/env bash
# A small Debian base image with Python, made from Debian's packages without any container registry:
# debootstrap --variant=minbase into a directory, then `docker import`. Where a registry exists this is not
# needed: the Dockerfile's default base is python:3.11-slim. Here:
#
#   bash docker/base-image.sh                       # builds ets-base:bookworm (skipped when it exists)
#   docker build --network host --build-arg PYTHON_IMAGE=ets-base:bookworm \
#       -f docker/Dockerfile -t energy-trading-network .
#
# Environment: ETS_BASE_IMAGE (the tag, default ets-base:bookworm), DEBIAN_SUITE (bookworm, whose python3 is
# 3.11), DEBIAN_MIRROR (default: the first Debian archive in this machine's apt sources), FORCE=1 to build
# again. Needs root (debootstrap) and the debootstrap package, which it installs with apt-get when missing.
# The machine's CA bundle is copied into the image, so that TLS from inside works where the machine's
# egress re-signs it; SSL_CERT_FILE and PIP_CERT point at it.
set -euo pipefail

TAG="${ETS_BASE_IMAGE:-ets-base:bookworm}"
SUITE="${DEBIAN_SUITE:-bookworm}"

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "$TAG exists (FORCE=1 to build it again)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "base-image.sh: debootstrap needs root" >&2
    exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
fi

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    # deb822 (`URIs: ...`) or one-line (`deb URI suite ...`) sources; the first that serves Debian itself.
    mirror="$({ cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
        | sed -n -E 's#^URIs:[[:space:]]*(\S+/debian)/?[[:space:]]*$#\1#p; s#^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?(\S+/debian)/?[[:space:]].*#\2#p' \
        | head -n 1)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

root="$(mktemp -d /tmp/ets-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
start=$(date +%s)
echo "debootstrap $SUITE from $mirror into $root"
# python3-pip: the Dockerfile installs uv with pip (as on python:3.11-slim); passwd: useradd.
debootstrap --variant=minbase --include=python3,python3-pip,passwd "$SUITE" "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -n 30 "$root.log" >&2; exit 1; }
rm -f "$root.log"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$root/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
fi
# What a container never needs: package caches and lists, documentation, manuals, translations.
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/tmp/* "$root"/root/.cache
find "$root/usr/lib/python3" "$root/usr/lib/python3.11" -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true

tar -C "$root" --numeric-owner -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
    --change 'CMD ["python3"]' \
    - "$TAG" >/dev/null
echo "built $TAG in $(( $(date +%s) - start )) s: $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
