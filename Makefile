# breakwater: build, test and run the local control plane.
#
#   make            build bin/breakwater
#   make demo       local control plane, operator, the example shop, a rollout
#   make deps       install what a fresh Debian machine lacks (quiet when nothing)
#   make check      clang-format check, gcc and clang builds
#   make test       every test; ends with "N passed, N failed"
#   make tsan       the threaded parts' tests under ThreadSanitizer
#   make test-faults  the fault scenarios of tests/faults/ (minutes; not in test)
#   make bench        the benchmarks of bench/ (bench/README.md)
#   make bench-proxy  the breaker sidecar against nginx and HAProxy on loopback
#                     (no cluster; bench/README.md)
#   make bench-scale  breakwater against kubectl and a controller-runtime operator
#                     at SIZES="100 1000" services (long; not in test; bench/README.md)
#   make cluster-up / cluster-down / cluster-status / cluster-clean
#   make image      the container image, without a Docker engine (image/)
#   make install    CRDs into $(KUBECONFIG) (default .cluster/kubeconfig)
#   make run        the operator in the foreground against it
#   make install-bin  bin/breakwater and the kubectl-breakwater link (the kubectl
#                   plugin, docs/plugin.md) into $(DESTDIR)$(BINDIR)
#
# Flags come from pkg-config; CC=clang works as well as gcc.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=

CC ?= cc
PKG_CONFIG ?= pkg-config
PKGS := libcurl openssl yaml-0.1 jansson libwebsockets zlib
CLANG_FORMAT ?= clang-format

CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wvla
BW_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARNINGS) -Ilib -Imodel \
	$(shell $(PKG_CONFIG) --cflags $(PKGS))
BW_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS)) -lpthread

SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# One object folder per toolchain and mode, so gcc, clang and sanitizer
# builds never mix objects.
BUILD ?= build/$(notdir $(CC))

LIB_SRC := $(wildcard lib/*.c)
MODEL_SRC := $(wildcard model/*.c)
OPERATOR_SRC := $(wildcard operator/*.c)
WEBHOOK_SRC := $(wildcard webhook/*.c)
PROXY_SRC := $(wildcard proxy/*.c)
PLUGIN_SRC := $(wildcard plugin/*.c)
BIN_SRC := $(LIB_SRC) $(MODEL_SRC) $(WEBHOOK_SRC) $(PROXY_SRC) $(PLUGIN_SRC) $(OPERATOR_SRC)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
INTEGRATION_SRC := $(wildcard tests/integration/test_*.c)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
# What a test program links: everything but main().
TESTED_SRC := $(LIB_SRC) $(MODEL_SRC) $(WEBHOOK_SRC) $(PROXY_SRC) $(PLUGIN_SRC) $(filter-out operator/main.c,$(OPERATOR_SRC))

objects = $(patsubst %.c,$(1)/%.o,$(2))

.PHONY: all build check format format-check deps clang-build asan-build \
	test test-unit test-traffic test-faults test-autoscaling-metrics traefik bench-scale bench-proxy unit-bins integration-bins load-bins fuzz-bins fuzz tsan tsan-bins bench bench-bins cluster-up cluster-down cluster-status cluster-clean \
	install run demo install-bin clean image image-rootfs image-deps bench-deps

all: build
build: bin/breakwater

bin/breakwater: $(call objects,$(BUILD),$(BIN_SRC))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(BW_LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BW_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# Sanitizer build of the binary and of the unit tests: what `make test` runs.
ASAN_BUILD := build/asan
$(ASAN_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BW_CFLAGS) -O1 -g $(SANITIZE) -MMD -MP -c -o $@ $<

$(ASAN_BUILD)/breakwater: $(call objects,$(ASAN_BUILD),$(BIN_SRC))
	$(CC) $(SANITIZE) -o $@ $^ $(BW_LIBS)

# Each test program links every object but main().
$(ASAN_BUILD)/tests/%: $(ASAN_BUILD)/tests/%.o $(call objects,$(ASAN_BUILD),$(TESTED_SRC))
	$(CC) $(SANITIZE) -o $@ $^ $(BW_LIBS)

# ThreadSanitizer build of the tests of everything that runs threads: the
# client, informer, work queue, leader, events and HTTP server, and the
# breaker sidecar's (one thread of its own, stopped from another). `make tsan`
# builds and runs them (the integration ones start the local control plane);
# `make test` runs them as the tsan suite. Suppressions: tests/tsan.supp.
TSAN_BUILD := build/tsan
TSAN := -fsanitize=thread -fno-omit-frame-pointer
TSAN_TESTS := tests/unit/test_client tests/unit/test_workqueue tests/unit/test_httpd \
	tests/integration/test_client tests/integration/test_informer \
	tests/integration/test_leader tests/integration/test_events \
	tests/integration/test_proxy
$(TSAN_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BW_CFLAGS) -O1 -g $(TSAN) -MMD -MP -c -o $@ $<
$(TSAN_BUILD)/tests/%: $(TSAN_BUILD)/tests/%.o $(call objects,$(TSAN_BUILD),$(TESTED_SRC))
	$(CC) $(TSAN) -o $@ $^ $(BW_LIBS)
tsan-bins: $(addprefix $(TSAN_BUILD)/,$(TSAN_TESTS))
tsan: deps
	@$(MAKE) -s tsan-bins
	@tests/run.sh tsan

asan-build: $(ASAN_BUILD)/breakwater
unit-bins: $(patsubst %.c,$(ASAN_BUILD)/%,$(UNIT_SRC))
integration-bins: $(patsubst %.c,$(ASAN_BUILD)/%,$(INTEGRATION_SRC))

# libFuzzer targets, one per parser of outside input (clang only).
FUZZ_BUILD := build/fuzz
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer -g -O1
$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	clang $(BW_CFLAGS) $(FUZZ_FLAGS) -MMD -MP -c -o $@ $<
$(FUZZ_BUILD)/tests/fuzz/%: $(FUZZ_BUILD)/tests/fuzz/%.o $(call objects,$(FUZZ_BUILD),$(TESTED_SRC))
	clang $(FUZZ_FLAGS) -o $@ $^ $(BW_LIBS)
fuzz-bins: $(patsubst %.c,$(FUZZ_BUILD)/%,$(FUZZ_SRC))

# Load tests: optimised builds without sanitizers (they measure memory and
# latency), linked like the unit tests; tests/run.sh unit runs them.
LOAD_SRC := $(wildcard tests/load/test_*.c)
build/load/%: tests/load/%.c $(call objects,$(BUILD),$(TESTED_SRC))
	@mkdir -p $(@D)
	$(CC) $(BW_CFLAGS) $(CFLAGS) -o $@ $^ $(BW_LIBS)
load-bins: $(patsubst tests/load/%.c,build/load/%,$(LOAD_SRC))

# Benchmarks: optimised builds, run against the local control plane.
BENCH_SRC := $(wildcard bench/*.c)
build/bench/%: bench/%.c $(call objects,$(BUILD),$(TESTED_SRC))
	@mkdir -p $(@D)
	$(CC) $(BW_CFLAGS) $(CFLAGS) -o $@ $^ $(BW_LIBS)
bench-bins: $(patsubst bench/%.c,build/bench/%,$(BENCH_SRC))

bench-deps:
	@tests/install-deps.sh bench

bench: deps bench-deps build bench-bins cluster-up
	@for b in $(patsubst bench/%.c,build/bench/%,$(BENCH_SRC)); do \
		echo "== $$b"; KUBECONFIG=$(CURDIR)/.cluster/kubeconfig $$b || exit 1; done
	@for b in $(filter-out bench/scale.sh,$(wildcard bench/*.sh)); do echo "== $$b"; $$b || exit 1; done

# The breaker sidecar against nginx and HAProxy (bench/proxy.sh): loopback
# only, no cluster. SECONDS_PER_RUN, CONNECTIONS and BASE_PORT pass through.
bench-proxy: deps bench-deps build build/bench/proxy_load
	@bench/proxy.sh

# The scale bench (bench/scale.sh, bench/README.md "Scale"): SIZES, PHASES and
# EDITS pass through the environment. The controller-manager and the scheduler
# are restarted with higher client rates (their defaults, 20 and 50 requests
# per second, would make the API clients the limit at 1,000 services rather
# than the work); fake nodes are added as the sizes need.
BREAKWATER_KCM_QPS ?= 200
BREAKWATER_KCM_BURST ?= 400
BREAKWATER_SCHED_QPS ?= 200
BREAKWATER_SCHED_BURST ?= 400
bench-scale: deps bench-deps build cluster-up
	@BREAKWATER_KCM_QPS=$(BREAKWATER_KCM_QPS) BREAKWATER_KCM_BURST=$(BREAKWATER_KCM_BURST) \
		BREAKWATER_SCHED_QPS=$(BREAKWATER_SCHED_QPS) BREAKWATER_SCHED_BURST=$(BREAKWATER_SCHED_BURST) \
		bench/scale.sh

# The container image (image/README.md): the binary built -O2 without debug
# information, and its runtime closure, packed with umoci. The Dockerfile's
# build stage runs `make image-rootfs ROOTFS=/rootfs`: the same files. Not
# part of `make test`: it needs root, umoci and a release build (see there).
IMAGE_BUILD := build/image
ROOTFS ?= $(IMAGE_BUILD)/rootfs
$(IMAGE_BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(BW_CFLAGS) -O2 -g0 -MMD -MP -c -o $@ $<
$(IMAGE_BUILD)/breakwater: $(call objects,$(IMAGE_BUILD)/obj,$(BIN_SRC))
	$(CC) -O2 -g0 $(LDFLAGS) -o $@ $^ $(BW_LIBS)
image-deps:
	@tests/install-deps.sh image
image-rootfs: $(IMAGE_BUILD)/breakwater
	image/rootfs.sh $< $(ROOTFS)
image: image-deps $(IMAGE_BUILD)/breakwater
	@image/build.sh $(IMAGE_BUILD)/breakwater $(IMAGE_BUILD)

# make fuzz FUZZ_SECONDS=600 [FUZZ_RUNS=10000000]: a longer run of every fuzz
# target (each stops at whichever comes first), then executions, coverage and
# crashes per target.
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= -1
fuzz: fuzz-bins
	@BREAKWATER_FUZZ_SECONDS=$(FUZZ_SECONDS) BREAKWATER_FUZZ_RUNS=$(FUZZ_RUNS) tests/run.sh fuzz; \
		rc=$$?; tests/fuzz/summary.sh; exit $$rc

clang-build:
	$(MAKE) CC=clang BUILD=build/clang build/clang/breakwater

build/clang/breakwater: $(call objects,build/clang,$(BIN_SRC))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(BW_LIBS)

FORMAT_FILES = $(wildcard lib/*.[ch] model/*.[ch] operator/*.[ch] webhook/*.[ch] proxy/*.[ch] plugin/*.[ch] tests/unit/*.[ch] \
	tests/integration/*.[ch] tests/fuzz/*.[ch] tests/load/*.[ch] bench/*.[ch])

format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

format-check:
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES) && echo "clang-format: clean"

check: format-check
	$(MAKE) CC=gcc BUILD=build/gcc build
	$(MAKE) clang-build

deps:
	@tests/install-deps.sh

TEST_BINS := build asan-build unit-bins load-bins integration-bins fuzz-bins tsan-bins bench-bins traefik

# The gateway of the traffic tests and the demo, from its Go module; cached
# in ~/.cache/breakwater/traffic-bin (tests/traffic/README.md).
traefik:
	@tests/traffic/build.sh >/dev/null

test: deps
	@$(MAKE) -s $(TEST_BINS)
	@tests/run.sh

test-unit: deps
	@$(MAKE) -s build asan-build unit-bins load-bins fuzz-bins bench-bins
	@tests/run.sh unit cli fuzz

# Requests through a real gateway (Traefik) to the shop's pods
# (tests/traffic/README.md); part of `make test` too.
test-traffic: deps
	@$(MAKE) -s build asan-build traefik
	@tests/run.sh traffic

# spec.autoscaling driven by CPU metrics: metrics-server v0.9.0 (built from
# its Go module by `cluster.sh metrics`: about 8 min the first time, cached
# after) scraping kwok's emulated usage (tests/autoscaling/README.md). Also
# the last script of `make test`'s e2e suite; this runs it alone.
test-autoscaling-metrics: deps
	@$(MAKE) -s build asan-build
	@tests/cluster/cluster.sh up
	@bash tests/autoscaling/metrics.sh

# Faults survived (tests/faults/README.md): kill -9, a frozen and a restarted
# API server, a conflict storm, leader handovers. FAULT_SEED, FAULT_KILLS,
# FAULT_SERVICES and the other knobs there pass through the environment.
test-faults: deps
	@$(MAKE) -s build asan-build
	@tests/run.sh faults

cluster-up:
	@tests/cluster/cluster.sh up

cluster-down:
	@tests/cluster/cluster.sh down

cluster-status:
	@tests/cluster/cluster.sh status

cluster-clean:
	@tests/cluster/cluster.sh clean

# The CRDs (and, with the webhook, its registration) into the cluster that
# $(KUBECONFIG) names; `make run` runs the operator against it in the foreground.
KUBECONFIG ?= $(CURDIR)/.cluster/kubeconfig
KUBECTL ?= $(if $(wildcard .cluster/bin/kubectl),.cluster/bin/kubectl,kubectl)

install: build
	$(KUBECTL) --kubeconfig $(KUBECONFIG) apply -f crds/
	KUBECTL=$(KUBECTL) KUBECONFIG=$(KUBECONFIG) tests/cluster/wait-established.sh \
		services.breakwater.io breakers.breakwater.io

run: install
	bin/breakwater --kubeconfig $(KUBECONFIG) $(RUN_FLAGS)

# The main job: control plane, operator, the example shop and a rollout.
demo: deps build traefik
	@examples/demo.sh

install-bin: bin/breakwater
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 bin/breakwater $(DESTDIR)$(BINDIR)/breakwater
	ln -sf breakwater $(DESTDIR)$(BINDIR)/kubectl-breakwater

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
