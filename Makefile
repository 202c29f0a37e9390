# service-fs. Two commands: `make run` (set up and run the system) and
# `make test` (set up and run every test). Both install what they need.
#
# The seL4 image (docs/image.md): `make image`, `make qemu`, `make
# test-qemu`, `make test-qemu-crash`, with the Microkit SDK at
# MICROKIT_SDK. Without it they stop at once saying what to install;
# `make test` then skips the QEMU tier.

CARGO ?= cargo
MICROKIT_SDK ?=
MICROKIT_BOARD ?= qemu_virt_aarch64
MICROKIT_CONFIG ?= debug
# psdb's disk image: for `make qemu` (kept between runs), and for `make
# test-qemu` when given (it otherwise starts from a blank one of its own).
DISK ?=
# Client PDs `make test-qemu` judges besides the harness: each must print
# PASS/FAIL lines and DONE (the examples in tenants.toml do).
JUDGE_PDS ?= client_initech_c_example client_hooli_rust_example
# `--pd P` for each of JUDGE_PDS the system description $(1) has.
judge_pds = $(foreach pd,$(JUDGE_PDS),$$(grep -q 'name="$(pd)"' $(1) && echo --pd $(pd)))
# The simulator's disk for `make run`, kept between runs.
SIM_DISK ?= build/sim/disk.img
export MICROKIT_SDK MICROKIT_BOARD MICROKIT_CONFIG RUST_SEL4
NOSTD_TARGET := aarch64-unknown-none
NOSTD_CRATES := -p tlog -p note -p ledger -p disk -p abi -p platform -p system -p client -p scenarios \
	-p psdb -p blk -p ledger-pd -p wire -p client-pd -p harness -p faulty

.PHONY: setup programs run run-daemon demo test lint nostd bench system clean image qemu test-qemu test-qemu-systems test-qemu-crash qemu-tier qemu-setup fuzz fuzz-tier

setup:
	@scripts/setup.sh

# The two-tenant Microkit system in the host simulator: each PD a process,
# its console prefixed by its name, psdb's disk in SIM_DISK (kept: a second
# run finds the first one's ledgers); stops when the system is idle.
run: setup programs
	$(CARGO) build --release --locked -p simulator
	target/release/simulator keys system.xml
	@mkdir -p $(dir $(SIM_DISK))
	target/release/simulator boot system.xml --until-idle --timeout 600 --disk $(SIM_DISK)

# The integrators' programs (programs/, examples/; docs/abi.md) built for
# the simulator, in build/sim/programs/ where it looks for them.
programs: setup
	scripts/programs.sh host build/sim/programs

# service-fsd (docs/http.md) on a temporary root with two tenants, a token
# for each module, and the commands to call it; Ctrl-C stops it.
LISTEN ?= 127.0.0.1:8417
run-daemon: setup
	$(CARGO) build --release --locked -p service-fsd -p fsctl
	scripts/run-daemon.sh target/release $(LISTEN)

# The fsctl demo: a tenant ledger in a temporary directory.
demo: setup
	$(CARGO) build --release --locked -p fsctl -p fs-anchor-emitter -p fake-rekor
	scripts/demo.sh target/release/fsctl

test: setup lint nostd
	$(CARGO) test --workspace --locked
	@$(MAKE) --no-print-directory fuzz-tier
	@$(MAKE) --no-print-directory qemu-tier

# Every fuzz target for 30 s (docs/fuzzing.md).
fuzz-tier:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECS=30

# The fuzz targets (fuzz/, docs/fuzzing.md), each for FUZZ_SECS seconds
# (FUZZ_TARGETS: only these), from a scratch corpus in build/fuzz/ seeded
# with fuzz/corpus/; fails naming any target that crashed. Installs the
# nightly toolchain and cargo-fuzz it needs.
FUZZ_SECS ?= 60
FUZZ_TARGETS ?=
fuzz: setup
	FUZZ_SECS=$(FUZZ_SECS) scripts/fuzz.sh $(FUZZ_TARGETS)

# The seL4 image under QEMU, when there is an SDK to build it with.
qemu-tier:
	@if [ -n "$(MICROKIT_SDK)" ]; then $(MAKE) --no-print-directory test-qemu test-qemu-systems; \
	else echo "test-qemu skipped: MICROKIT_SDK is not set (the seL4 image needs the Microkit 2.3.0 SDK; see docs/image.md)"; fi

lint:
	$(CARGO) fmt --all --check
	find image -name '*.rs' -not -path 'image/target/*' | xargs rustfmt --edition 2024 --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test -q --locked -p sysgen --test edges --test programs
	@test -z "$$(gofmt -l crates/oracle/go)" || { gofmt -l crates/oracle/go; echo "gofmt needed"; exit 1; }
	find fuzz -name '*.rs' -not -path 'fuzz/target/*' | xargs rustfmt --edition 2024 --check

# Tier 2: the ledger core builds for a bare-metal target (no_std, no alloc).
nostd:
	$(CARGO) build --locked $(NOSTD_CRATES) --target $(NOSTD_TARGET)

# Regenerate system.xml and the system crate's tables from tenants.toml.
system: setup
	$(CARGO) run -q --locked -p sysgen

bench:
	@scripts/setup.sh bench
	@if [ -n "$(MICROKIT_SDK)" ]; then $(MAKE) --no-print-directory qemu-setup; fi
	$(CARGO) build --release --locked -p bench -p simulator -p service-fsd
	target/release/service-fs-bench --write docs/performance.md

# The bootable seL4 image, build/loader.img, for MICROKIT_BOARD.
image:
	@scripts/check-sdk.sh
	@scripts/setup.sh
	scripts/image.sh

# Boots the image in QEMU on this terminal (Ctrl-a x quits), with psdb's
# disk in DISK (default build/disk.img; created when missing, kept).
qemu: image qemu-setup
	target/release/qemu-runner boot --board $(MICROKIT_BOARD) $(if $(DISK_ARG),--disk $(DISK_ARG))

# Boots it headless, runs the scenarios, judges the serial log, checks each
# tenant's printed checkpoint outside the system; boots the same disk again
# and checks that everything acknowledged is there; exports the disk and
# verifies every tenant with fsctl and Go's tlog/note; and boots once on a
# device that cannot flush, which the driver must refuse.
test-qemu: export IMAGE_LINT = 1
test-qemu: image qemu-setup
	@[ "$(MICROKIT_CONFIG)" = debug ] || { echo "test-qemu: the judge reads the console, which only debug kernels have: use MICROKIT_CONFIG=debug"; exit 1; }
	target/release/qemu-runner test --board $(MICROKIT_BOARD) $(call judge_pds,build/system.xml) \
		$(if $(or $(DISK),$(HAS_DISK)),--reboot --fsctl target/release/fsctl --flush-refusal) \
		$(if $(DISK),--disk $(DISK),$(if $(HAS_DISK),--disk build/qemu/test-disk.img --new-disk))

# Kills QEMU (SIGKILL) at random moments while a workload appends, 200
# times, checking the disk after each: every acknowledged record there, every
# ledger verifying.
test-qemu-crash: image qemu-setup
	target/release/qemu-runner crash --board $(MICROKIT_BOARD) --build --kills $(KILLS) --fsctl target/release/fsctl

# The test systems (test-systems/*.toml: the largest records; 28 tenants
# and 100 modules in 63 PDs), each built into build/systems/<name>/ and
# booted on a fresh disk: every scenario and example passes.
TEST_SYSTEMS ?= $(basename $(notdir $(wildcard test-systems/*.toml)))
test-qemu-systems:
	@scripts/check-sdk.sh
	@[ "$(MICROKIT_CONFIG)" = debug ] || { echo "test-qemu-systems: the judge reads the console, which only debug kernels have: use MICROKIT_CONFIG=debug"; exit 1; }
	@scripts/setup.sh
	@$(MAKE) --no-print-directory qemu-setup
	@set -e; for s in $(TEST_SYSTEMS); do \
		dir=build/systems/$$s; echo "test-qemu-systems: $$s"; \
		$(CARGO) run -q --locked -p sysgen -- --tenants test-systems/$$s.toml --board $(MICROKIT_BOARD) --xml $$dir/system.xml; \
		scripts/image.sh $$dir/system.xml $$dir; \
		target/release/qemu-runner test --board $(MICROKIT_BOARD) --image $$dir/loader.img \
			$(call judge_pds,$$dir/system.xml) \
			$(if $(HAS_DISK),--disk $$dir/disk.img --new-disk) --keys $$dir/build/keys --out $$dir/qemu; \
	done

KILLS ?= 200
# Whether the board has a disk (its board.toml has a [disk]).
HAS_DISK = $(shell grep -q '^\[disk\]' board/$(MICROKIT_BOARD)/board.toml && echo yes)
DISK_ARG = $(or $(DISK),$(if $(HAS_DISK),build/disk.img))

qemu-setup:
	@scripts/apt.sh $$(sed -n 's/^packages = \[\(.*\)\]/\1/p' board/$(MICROKIT_BOARD)/board.toml | tr -d '",')
	$(CARGO) build -q --release --locked -p qemu-runner -p fsctl

clean:
	$(CARGO) clean
