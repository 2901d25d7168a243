# bin/breakwater and its runtime closure, for a cluster install (manifests/).
#
# The build stage compiles the binary and assembles the root file system with
# `make image-rootfs` (image/rootfs.sh: the binary, the shared libraries ldd
# resolves, the CA bundle, passwd/group); the image is that file system and
# nothing else. `make image` builds the same files on a Debian 12 host without
# a Docker engine (umoci); image/README.md says how the two were compared.
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
	gcc make pkg-config libc6-dev binutils ca-certificates \
	libcurl4-openssl-dev libssl-dev libyaml-dev libjansson-dev libwebsockets-dev zlib1g-dev \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY lib lib
COPY operator operator
COPY webhook webhook
COPY image image
RUN make image-rootfs ROOTFS=/rootfs

FROM scratch
COPY --from=build /rootfs /
USER 65532:65532
ENTRYPOINT ["/usr/bin/breakwater"]
