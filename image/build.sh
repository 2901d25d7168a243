#!/bin/sh
# make image: the container image, without a Docker engine.
#
#   image/build.sh BINARY [OUT]      (OUT defaults to build/image)
#
# Assembles the root file system with image/rootfs.sh (the binary and its
# runtime closure: what the Dockerfile's runtime stage copies, made by the
# same script), packs it as a one-layer OCI image with umoci (OUT/oci, tag
# breakwater; OUT/breakwater-oci.tar is the same as an oci-archive for
# `skopeo copy oci-archive:...` or `podman load`), prints its size, and checks
# the binary inside runs as the image's user: the image is unpacked again
# and `breakwater --version` runs in it, chrooted, as uid 65532.
# OUT/contents.txt lists every file (mode, owner, size, sha256, path): two
# builds hold the same contents when these lists are equal.
set -eu

bin=$1
out=${2:-build/image}
epoch=${SOURCE_DATE_EPOCH:-0}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
ref=$out/oci:breakwater

for tool in umoci strip ldd dpkg chroot jq; do
	command -v $tool >/dev/null || { echo "image: $tool is missing (make image-deps)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "image: run as root (files in the layer are root-owned; chroot)" >&2; exit 1; }

SOURCE_DATE_EPOCH=$epoch image/rootfs.sh "$bin" "$out/rootfs"
(cd "$out/rootfs" && find . -path ./tmp -prune -o -print | LC_ALL=C sort | while read -r f; do
	# a directory's size is its file system's business: not compared
	if [ -f "$f" ] && [ ! -L "$f" ]; then
		stat -c "%A %u:%g %s $(sha256sum "$f" | cut -d' ' -f1) %n" "$f"
	else
		stat -c "%A %u:%g - - %n" "$f"
	fi
done) >"$out/contents.txt"

rm -rf "$out/oci" "$out/bundle" "$out/breakwater-oci.tar"
umoci init --layout "$out/oci"
umoci new --image "$ref"
umoci insert --image "$ref" --history.created "$created" \
	--history.created_by "image/rootfs.sh" "$out/rootfs" /
umoci config --image "$ref" --created "$created" --history.created "$created" \
	--os linux --architecture amd64 \
	--config.user 65532:65532 --config.entrypoint /usr/bin/breakwater --config.workingdir / \
	--config.label org.opencontainers.image.title=breakwater \
	--config.label "org.opencontainers.image.version=$("$bin" --version | awk 'NR==1 {print $2}')"
umoci gc --layout "$out/oci"
tar -C "$out/oci" --sort=name --mtime="@$epoch" --owner=0 --group=0 -cf "$out/breakwater-oci.tar" .

# the sizes: files in the image, and its blobs as a registry stores them
blob() { echo "$out/oci/blobs/sha256/${1#sha256:}"; }
manifest=$(blob "$(jq -r '.manifests[0].digest' "$out/oci/index.json")")
config=$(blob "$(jq -r '.config.digest' "$manifest")")
files=$(du -sb --apparent-size "$out/rootfs" | cut -f1)
layer=$(jq -r '[.layers[].size] | add' "$manifest")
blobs=$(find "$out/oci/blobs" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
echo "image: $ref, $(grep -vc '^d' "$out/contents.txt") files, contents $(sha256sum "$out/contents.txt" | cut -c1-16)"
awk -v f="$files" -v l="$layer" -v b="$blobs" 'BEGIN {
	printf "image: %.1f MB of files (%d bytes); %.1f MB compressed (layer %d bytes, all blobs %d)\n",
		f / 1e6, f, b / 1e6, l, b }'

# the check: unpacked from the image itself, run as the user it names
user=$(jq -r '.config.User' "$config")
[ "$user" = "65532:65532" ] || { echo "image: the config's user is '$user', not 65532:65532" >&2; exit 1; }
umoci unpack --image "$ref" "$out/bundle" >/dev/null
version=$(chroot --userspec="$user" "$out/bundle/rootfs" /usr/bin/breakwater --version) || {
	echo "image: breakwater --version failed in the image" >&2
	exit 1
}
echo "$version" | sed "s/^/image: as $user: /"
echo "$version" | grep -q '^breakwater ' || { echo "image: unexpected --version output" >&2; exit 1; }

# and the server side: the operator with an unreachable API server still
# serves /healthz (libwebsockets, OpenSSL, libcurl all load and run). /dev
# holds what every container runtime provides (lws reads /dev/urandom).
root=$out/bundle/rootfs
mkdir -p "$root/dev"
mknod -m 666 "$root/dev/null" c 1 3
mknod -m 666 "$root/dev/urandom" c 1 9
cat >"$root/tmp/kubeconfig" <<'KC'
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
KC
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chroot --userspec="$user" "$root" /usr/bin/breakwater --kubeconfig /tmp/kubeconfig \
	--health-probe-bind-address "127.0.0.1:$port" --metrics-bind-address 0 --webhook-port 0 \
	>"$out/smoke.log" 2>&1 &
pid=$!
health=
for _ in $(seq 50); do
	health=$(curl -s "http://127.0.0.1:$port/healthz" || true)
	[ "$health" = ok ] && break
	sleep 0.1
done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[ "$health" = ok ] || { echo "image: /healthz did not answer in the image (log: $out/smoke.log)" >&2; exit 1; }
echo "image: as $user: the operator serves /healthz (API server unreachable, as intended)"
