#!/bin/sh
# Assembles the container image's root file system: a binary and its runtime
# closure, nothing else (no shell, no package manager).
#
#   image/rootfs.sh BINARY ROOTFS
#
# What goes in, all taken from the Debian system it runs on (so `make image`
# on a Debian 12 host and the Dockerfile's build stage on debian:bookworm-slim
# assemble the same files):
#   /usr/bin/breakwater                    BINARY, stripped
#   /usr/lib/x86_64-linux-gnu/<soname>     every shared library ldd resolves,
#                                          under the name the binary asks for
#   /lib64/ld-linux-x86-64.so.2            the dynamic loader (PT_INTERP)
#   /etc/ssl/certs/ca-certificates.crt     the CA bundle (ca-certificates)
#   /etc/passwd, /etc/group                root and nonroot (65532), as distroless
#   /etc/nsswitch.conf                     hosts: files dns
#   /tmp                                   1777
#   /usr/share/doc/<package>/copyright     the licence of every package shipped
#   /usr/share/breakwater/packages.txt     those packages and their versions
# Every file is root-owned, and every timestamp is SOURCE_DATE_EPOCH (default
# 0), so the same inputs give the same tar layer.
set -eu

bin=$1
root=$2
epoch=${SOURCE_DATE_EPOCH:-0}
libdir=/usr/lib/x86_64-linux-gnu

[ -x "$bin" ] || { echo "rootfs: $bin is not an executable" >&2; exit 1; }
rm -rf "$root"
mkdir -p "$root/usr/bin" "$root$libdir" "$root/lib64" "$root/etc/ssl/certs" \
	"$root/usr/share/doc" "$root/usr/share/breakwater" "$root/tmp"
chmod 1777 "$root/tmp"

cp "$bin" "$root/usr/bin/breakwater"
strip --strip-unneeded "$root/usr/bin/breakwater"
chmod 755 "$root/usr/bin/breakwater"

# "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" and the loader
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u >"$root.libs"
loader=$(ldd "$bin" | awk '$1 ~ /^\/.*ld-linux/ {print $1}')
[ -n "$loader" ] && [ -s "$root.libs" ] || { echo "rootfs: ldd found no libraries" >&2; exit 1; }
while read -r soname path; do
	cp -L "$path" "$root$libdir/$soname"
done <"$root.libs"
cp -L "$loader" "$root/lib64/$(basename "$loader")"
chmod 755 "$root/lib64/"* "$root$libdir/"*

# the Debian packages the files came from (dpkg knows /lib paths by their
# real location: ask for both spellings)
: >"$root.pkgs"
{ awk '{print $2}' "$root.libs"; echo "$loader"; echo /etc/ssl/certs/ca-certificates.crt; } |
	while read -r f; do
		real=$(readlink -f "$f")
		dpkg -S "$real" 2>/dev/null || dpkg -S "$f" 2>/dev/null ||
			dpkg -S "/usr${real#/usr}" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || true
	done | awk -F: '{print $1}' | sort -u >"$root.pkgs"
# the bundle is made by update-ca-certificates, not shipped: name its package
grep -qx ca-certificates "$root.pkgs" || echo ca-certificates >>"$root.pkgs"
sort -u -o "$root.pkgs" "$root.pkgs"
while read -r pkg; do
	name=${pkg%%:*}
	dpkg-query -W -f='${Package} ${Version}\n' "$pkg" >>"$root/usr/share/breakwater/packages.txt"
	if [ -f "/usr/share/doc/$name/copyright" ]; then
		mkdir -p "$root/usr/share/doc/$name"
		cp "/usr/share/doc/$name/copyright" "$root/usr/share/doc/$name/copyright"
	fi
done <"$root.pkgs"
rm -f "$root.libs" "$root.pkgs"

cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
	>"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
chmod 644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf" \
	"$root/etc/ssl/certs/ca-certificates.crt"

find "$root" -exec touch -h -d "@$epoch" {} +
