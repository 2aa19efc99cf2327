#!/bin/sh
# mmdebstrap --customize-hook for the image's root filesystem ($1). The extract variant unpacks the
# Debian packages without running their maintainer scripts (no shell, perl or dpkg in the image to run
# them), so this does by hand the little they would have done that Portcullis needs, and removes what only
# those scripts used. Changing this file changes the rootfs cache key (deploy/image/build.sh).
set -eu
r=$1

# The CA bundle update-ca-certificates(8) would write with the default /etc/ca-certificates.conf (every
# Mozilla root enabled). Node uses its own copy of the Mozilla roots unless started with --use-system-ca;
# this file is for NODE_EXTRA_CA_CERTS-style use and for operators who mount their own roots.
mkdir -p "$r/etc/ssl/certs"
find "$r/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat >"$r/etc/ssl/certs/ca-certificates.crt"

# A non-root user with a fixed id (Kubernetes runAsUser, podman --user), and nothing to log in with.
cat >"$r/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/usr/sbin/nologin
portcullis:x:10001:10001:Portcullis:/var/lib/portcullis:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
cat >"$r/etc/group" <<'GROUP'
root:x:0:
portcullis:x:10001:
nogroup:x:65534:
GROUP
# getaddrinfo: the container's /etc/hosts first, then DNS (glibc's default order without this file differs).
printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"

# The only writable place (declared as a volume): the sqlite state and anything else Portcullis keeps.
mkdir -p "$r/var/lib/portcullis" "$r/etc/portcullis" "$r/tmp"
chown 10001:10001 "$r/var/lib/portcullis"
chmod 0700 "$r/var/lib/portcullis"
chmod 1777 "$r/tmp"

# What only the maintainer scripts and apt used.
rm -rf "$r"/usr/bin/debconf* "$r"/usr/sbin/dpkg-* "$r/usr/sbin/update-ca-certificates" \
  "$r/usr/share/perl5" "$r/usr/share/debconf" "$r/etc/debconf.conf" "$r/var/cache/debconf" \
  "$r/usr/bin/openssl" "$r/usr/bin/c_rehash" "$r/usr/bin/tini-static" \
  "$r/etc/apt" "$r/var/lib/apt" "$r/var/cache/apt" "$r/var/log/apt" "$r/etc/dpkg" "$r/var/lib/dpkg"
# Node links OpenSSL statically and converts text itself: the system OpenSSL (pulled in by ca-certificates)
# and glibc's iconv modules are dead weight (14 MB).
rm -rf "$r"/usr/lib/*-linux-gnu/libssl.so* "$r"/usr/lib/*-linux-gnu/libcrypto.so* \
  "$r"/usr/lib/*-linux-gnu/engines-3 "$r"/usr/lib/*-linux-gnu/ossl-modules "$r"/usr/lib/*-linux-gnu/gconv \
  "$r/etc/ssl/openssl.cnf"
