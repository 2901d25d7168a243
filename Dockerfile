# bin/breakwater in a small Debian image, for a cluster install (manifests/).
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
	gcc make pkg-config libc6-dev \
	libcurl4-openssl-dev libssl-dev libyaml-dev libjansson-dev libwebsockets-dev \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY lib lib
COPY operator operator
COPY webhook webhook
RUN make build CFLAGS="-O2 -g0"

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
	libcurl4 libssl3 libyaml-0-2 libjansson4 libwebsockets17 ca-certificates \
	&& rm -rf /var/lib/apt/lists/*
COPY --from=build /src/bin/breakwater /usr/bin/breakwater
USER 65532:65532
ENTRYPOINT ["/usr/bin/breakwater"]
