# netpol-agent build.  Quiet by default; `make V=1` shows the commands.
#
#   make            build everything into build/
#   make deps       install the Debian packages the build and tests need
#   make test       all tests: unit (+ASan/UBSan), BPF, conformance, end-to-end, flows,
#                   Kubernetes API, CloudWatch
#   make bench      benchmarks (BPF ns/packet, compile time, flow pipeline, agent memory,
#                   Kubernetes API sync, CloudWatch shipping)
#   make demo       the built-in demo
#   make test-kernels  the datapath under qemu on the EKS kernels 5.10 and 6.1 (+ this one)

BUILD     ?= build
CC        ?= gcc
CLANG     ?= clang
BPFTOOL   ?= bpftool
ARCH      := $(shell uname -m | sed 's/x86_64/x86/; s/aarch64/arm64/')

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

DEB_PACKAGES := make gcc clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev \
	libcurl4-openssl-dev libjansson-dev libyaml-dev libcmocka-dev iproute2 \
	pkg-config linux-libc-dev jq procps python3 openssl curl libmicrohttpd-dev \
	qemu-system-x86 busybox-static cpio kmod \
	$(if $(shell command -v kubectl 2>/dev/null),,kubernetes-client)

CFLAGS_COMMON := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Iinclude -Iuser -I$(BUILD)
CFLAGS   ?=
override CFLAGS += $(CFLAGS_COMMON)
LDLIBS   := -lbpf -lelf -lz -ljansson -lyaml -lcurl -lmicrohttpd -lm -lpthread
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -D__BPF__ \
	-Wall -Wextra -Werror -Wno-unused-parameter -I$(BUILD) -Iinclude -Ibpf

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
BPF_HDRS  := $(wildcard bpf/*.h) $(wildcard include/*.h)

MAINS     := user/netpolctl.c user/agent.c
LIB_SRCS  := $(filter-out $(MAINS),$(wildcard user/*.c))
LIB_OBJS  := $(patsubst user/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
USER_HDRS := $(wildcard user/*.h) $(wildcard include/*.h)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
ASAN_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests-asan/%,$(UNIT_SRCS))
ASAN_LIB_OBJS := $(patsubst user/%.c,$(BUILD)/obj-asan/%.o,$(LIB_SRCS))
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# libFuzzer harnesses (clang, ASan + UBSan); `make fuzz FUZZ_SECONDS=N`.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB_OBJS := $(patsubst user/%.c,$(BUILD)/obj-fuzz/%.o,$(LIB_SRCS))
FUZZ_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_SECONDS ?= 60

TOOLS_SRCS := $(wildcard tools/*.c) $(wildcard tests/bpf/*.c)
TOOL_BINS := $(patsubst tools/%.c,$(BUILD)/%,$(wildcard tools/*.c)) \
	$(patsubst tests/bpf/%.c,$(BUILD)/tests/%,$(wildcard tests/bpf/*.c)) \
	$(patsubst tests/ops/%.c,$(BUILD)/tests/%,$(wildcard tests/ops/*.c))

.PHONY: fuzz fuzz-build
.PHONY: all deps test test-all test-unit test-asan test-bpf test-cli test-conformance test-e2e test-flows test-kube test-cloudwatch test-ops test-kernels bench demo clean
.DELETE_ON_ERROR:

all: $(BUILD)/netpol-agent $(BUILD)/netpolctl $(BPF_OBJS) $(TOOL_BINS)

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y $(DEB_PACKAGES)

$(BUILD) $(BUILD)/obj $(BUILD)/obj-asan $(BUILD)/obj-fuzz $(BUILD)/fuzz $(BUILD)/tests $(BUILD)/tests-asan:
	$(Q)mkdir -p $@

# CO-RE: the kernel's own BTF gives every kernel type the programs use.
$(BUILD)/vmlinux.h: | $(BUILD)
	$(call msg,BTF,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(BUILD)/obj/%.o: user/%.c $(USER_HDRS) $(SKELS) | $(BUILD)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj-asan/%.o: user/%.c $(USER_HDRS) $(SKELS) | $(BUILD)/obj-asan
	$(call msg,CC-ASAN,$@)
	$(Q)$(CC) $(CFLAGS) $(ASAN_FLAGS) -c $< -o $@

$(BUILD)/libnetpol.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/obj-fuzz/%.o: user/%.c $(USER_HDRS) $(SKELS) | $(BUILD)/obj-fuzz
	$(call msg,CC-FUZZ,$@)
	$(Q)$(CLANG) $(CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/libnetpol-fuzz.a: $(FUZZ_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libnetpol-fuzz.a $(USER_HDRS) | $(BUILD)/fuzz
	$(call msg,LINK,$@)
	$(Q)$(CLANG) $(CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer $< $(BUILD)/libnetpol-fuzz.a $(LDLIBS) -o $@

fuzz-build: $(FUZZ_BINS)

# Every harness for FUZZ_SECONDS (default 60) on its corpus in
# tests/fuzz/corpus/NAME; fails on any crash, leak or timeout.
fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(BUILD) $(FUZZ_BINS)

$(BUILD)/libnetpol-asan.a: $(ASAN_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/netpolctl: user/netpolctl.c $(BUILD)/libnetpol.a $(USER_HDRS) $(SKELS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $< $(BUILD)/libnetpol.a $(LDLIBS) -o $@

$(BUILD)/netpol-agent: user/agent.c $(BUILD)/libnetpol.a $(USER_HDRS) $(SKELS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $< $(BUILD)/libnetpol.a $(LDLIBS) -o $@

$(BUILD)/%: tools/%.c $(BUILD)/libnetpol.a $(USER_HDRS) $(SKELS) $(wildcard tools/*.h)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -Itools $< $(BUILD)/libnetpol.a $(LDLIBS) -lm -o $@

$(BUILD)/tests/%: tests/bpf/%.c $(BUILD)/libnetpol.a $(USER_HDRS) $(SKELS) | $(BUILD)/tests
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $< $(BUILD)/libnetpol.a $(LDLIBS) -lcmocka -o $@

$(BUILD)/tests/%: tests/ops/%.c $(BUILD)/libnetpol.a $(USER_HDRS) | $(BUILD)/tests
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $< $(BUILD)/libnetpol.a $(LDLIBS) -o $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libnetpol.a $(USER_HDRS) | $(BUILD)/tests
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $< $(BUILD)/libnetpol.a $(LDLIBS) -lcmocka -o $@

$(BUILD)/tests-asan/test_%: tests/unit/test_%.c $(BUILD)/libnetpol-asan.a $(USER_HDRS) | $(BUILD)/tests-asan
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(ASAN_FLAGS) $< $(BUILD)/libnetpol-asan.a $(LDLIBS) -lcmocka -o $@

# `test`, `demo` and `bench` first install missing packages (fresh machine).
test:
	$(Q)tools/ensure-deps.sh $(DEB_PACKAGES)
	$(Q)$(MAKE) --no-print-directory test-all

test-all: test-unit test-asan test-bpf test-cli test-conformance test-e2e test-flows test-kube test-cloudwatch test-ops
	@echo "all test tiers passed"

test-unit: $(UNIT_BINS)
	$(Q)tests/run-unit.sh $(UNIT_BINS)

test-asan: $(ASAN_BINS)
	$(Q)ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run-unit.sh $(ASAN_BINS)

test-bpf: all
	$(Q)tests/bpf/run.sh $(BUILD)

test-cli: all
	$(Q)tests/cli/run.sh $(BUILD)

test-conformance: all
	$(Q)tests/conformance/run.sh $(BUILD)

test-e2e: all
	$(Q)tests/e2e/run.sh $(BUILD)
	$(Q)tests/e2e/revoke.sh $(BUILD)
	$(Q)tests/e2e/pmtu.sh $(BUILD)

test-flows: all
	$(Q)tests/flows/run.sh $(BUILD)

# The Kubernetes API sync against the fake API server (python3, openssl, curl).
test-kube: all
	$(Q)tests/kube/run.sh $(BUILD)

# CloudWatch Logs shipping against fake AWS endpoints on loopback (port
# 17510; the agent test: 17520 in its cwa-* namespaces); CW_OUTAGE_SECONDS (60)
# sets the outage test's length.
test-cloudwatch: all
	$(Q)tests/cloudwatch/run.sh $(BUILD)

# Health/metrics endpoint, netpolctl status/policy/explain/conntrack against
# a running agent, the capabilities of the DaemonSet, the manifests
# (kubectl kustomize + schema checks) and the Dockerfile's build steps.
test-ops: all
	$(Q)tests/ops/run.sh $(BUILD)

# The datapath on the EKS kernels (5.10, 6.1) booted under qemu, and on this
# machine's kernel; not part of `make test`.  KERNELS="5.10 6.1 host" selects.
test-kernels: all
	$(Q)tools/kernels/run.sh $(BUILD) $(KERNELS)

bench:
	$(Q)tools/ensure-deps.sh $(DEB_PACKAGES)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/bench.sh $(BUILD)
	$(Q)tools/flow-bench.sh $(BUILD)
	$(Q)tools/kube-bench.sh $(BUILD)

demo:
	$(Q)tools/ensure-deps.sh $(DEB_PACKAGES)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)
