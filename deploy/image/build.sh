#!/usr/bin/env bash
# npm run image: builds the Portcullis container image with no registry pull (docs/deploy/container.md).
#   1. a root filesystem from Debian packages (mmdebstrap, extract variant, from this machine's apt
#      sources), cached by what goes into it;
#   2. the Node binary the repo pins (the npm `node` package), symbols stripped;
#   3. the tarball `npm pack` makes, unpacked at /opt/portcullis with its production dependencies
#      (`npm install --omit=dev --omit=optional`, lockfile versions), so the image holds what the package ships;
#   4. buildah from scratch: copy both in, set user, volume, entrypoint, health check; commit into local
#      storage and write an OCI archive.
# Environment: PORTCULLIS_IMAGE (name, default localhost/portcullis), PORTCULLIS_IMAGE_OUT (archive
# folder, default build/), PORTCULLIS_IMAGE_CACHE (rootfs cache), PORTCULLIS_APT_SOURCES (an apt sources
# file), PORTCULLIS_IMAGE_REFRESH=1 (rebuild the rootfs, e.g. for Debian security updates).
# Prints `image <name:version> <archive> <bytes>` as its last line. Needs root (or buildah unshare).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
# Docker format: it keeps the HEALTHCHECK (the OCI image config has no such field).
export BUILDAH_FORMAT=docker

for tool in mmdebstrap buildah strip; do
  command -v "$tool" >/dev/null || {
    echo "image: $tool is missing (apt-get install mmdebstrap buildah binutils)" >&2
    exit 2
  }
done

name=${PORTCULLIS_IMAGE:-localhost/portcullis}
version=$(cd "$root" && npm pkg get version | tr -d '"')
out=${PORTCULLIS_IMAGE_OUT:-$root/build}
cache=${PORTCULLIS_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis-image}
sources=${PORTCULLIS_APT_SOURCES:-}
if [ -z "$sources" ]; then
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -s "$f" ]; then sources=$f && break; fi
  done
fi
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
arch=$(dpkg --print-architecture)
# libc6 and libstdc++6 (with libgcc-s1) are what the node binary links; tini is PID 1 (it forwards SIGTERM
# to Node and reaps zombies, and Kubernetes has no --init); ca-certificates for operators' CA use.
packages=libc6,libstdc++6,ca-certificates,tini
mkdir -p "$cache" "$out"

key=$( (cat "$here/rootfs.sh" "$sources" && echo "$suite $arch $packages") | sha256sum | cut -c1-16)
rootfs=$cache/rootfs-$key.tar
if [ ! -s "$rootfs" ] || [ "${PORTCULLIS_IMAGE_REFRESH:-}" = 1 ]; then
  echo "image: root filesystem from Debian $suite ($packages)" >&2
  # mmdebstrap runs no hooks for the extract variant: finish the tree with rootfs.sh, then tar it.
  tree=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-rootfs.XXXXXX")
  rmdir "$tree"
  mmdebstrap --quiet --format=directory --variant=extract --architectures="$arch" --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    "$suite" "$tree" "$sources"
  "$here/rootfs.sh" "$tree"
  tar --numeric-owner --sort=name -C "$tree" -cf "$rootfs.tmp" .
  rm -rf "$tree"
  mv "$rootfs.tmp" "$rootfs"
else
  echo "image: root filesystem from the cache ($rootfs)" >&2
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-image.XXXXXX")
ctr=
cleanup() {
  [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1
  rm -rf "$stage"
}
trap cleanup EXIT

# The package as npm ships it, unpacked as the application's root (Node strips types only outside
# node_modules, so until the package ships JavaScript it cannot live under node_modules), and its
# production dependencies beside it at the versions of the repo's lockfile.
tgz=$(cd "$root" && npm pack --silent --pack-destination "$stage" | tail -n 1)
app=$stage/app/opt/portcullis
mkdir -p "$app" "$stage/app/usr/local/bin"
tar -xzf "$stage/$tgz" -C "$app" --strip-components=1 --no-same-owner
cp "$root/package-lock.json" "$app/"
(cd "$app" && npm install --omit=dev --omit=optional --ignore-scripts --prefer-offline --no-audit --no-fund \
  --loglevel=error >&2)
bin=$(cd "$app" && npm pkg get bin.portcullis | tr -d '"')
[ -f "$app/$bin" ] || {
  echo "image: the package has no portcullis bin ($bin)" >&2
  exit 1
}
ln -s "/opt/portcullis/${bin#./}" "$stage/app/usr/local/bin/portcullis"

# The pinned Node (devDependency `node`), whatever Node runs this script. strip -s drops the symbol table
# and debug sections (126 → 108 MB); the dynamic symbols that native addons link against stay.
nodebin=$root/node_modules/node/bin/node
[ -x "$nodebin" ] || {
  echo "image: $nodebin is missing (npm ci first)" >&2
  exit 1
}
strip --strip-all -o "$stage/app/usr/local/bin/node" "$nodebin"

ctr=$(buildah from --quiet scratch)
buildah add --quiet "$ctr" "$rootfs" / >/dev/null
buildah add --quiet --chown 0:0 "$ctr" "$stage/app" / >/dev/null
port=4180
# The health check asks /ready on the port of PORTCULLIS_LISTEN (no curl in the image: Node's fetch).
health='fetch("http://127.0.0.1:" + ((process.env.PORTCULLIS_LISTEN || "").split(":").pop() || 4180) + "/ready").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))'
buildah config \
  --user 10001:10001 \
  --workingdir /var/lib/portcullis \
  --volume /var/lib/portcullis \
  --port "$port" \
  --env PORTCULLIS_CONFIG=/etc/portcullis/portcullis.yaml \
  --env PORTCULLIS_LISTEN="0.0.0.0:$port" \
  --entrypoint '["/usr/bin/tini", "--", "/usr/local/bin/node", "/usr/local/bin/portcullis"]' \
  --cmd '["serve"]' \
  --stop-signal SIGTERM \
  --healthcheck "CMD /usr/local/bin/node -e '$health'" \
  --healthcheck-interval 30s --healthcheck-timeout 5s --healthcheck-start-period 15s --healthcheck-retries 3 \
  --label org.opencontainers.image.title=portcullis \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  --label org.opencontainers.image.description="Portcullis identity-aware gateway (Debian $suite, Node $("$nodebin" -p process.versions.node))" \
  "$ctr"
# Docker format in local storage keeps the HEALTHCHECK (the OCI image config has no such field); the
# archive is OCI, for registries and tools that want it, and carries everything else.
buildah commit --quiet --format docker --rm "$ctr" "$name:$version" >/dev/null
ctr=
buildah tag "$name:$version" "$name:latest"
archive=$out/portcullis-$version.oci.tar
rm -f "$archive"
buildah push --quiet "$name:$version" "oci-archive:$archive:$name:$version" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$name:$version" 2>/dev/null || echo '?')
echo "image $name:$version $archive $size"
