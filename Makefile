# service-fs. Two commands: `make run` (set up and run the demo) and
# `make test` (set up and run every test). Both install what they need.

CARGO ?= cargo
NOSTD_TARGET := aarch64-unknown-none
NOSTD_CRATES := -p tlog -p note -p ledger -p abi -p platform -p system -p client \
	-p psdb -p ledger-pd -p wire -p client-pd -p harness -p faulty

.PHONY: setup run demo test lint nostd bench system clean

setup:
	@scripts/setup.sh

# The two-tenant Microkit system in the host simulator: each PD a process,
# its console prefixed by its name; stops when the system is idle.
run: setup
	$(CARGO) build --release --locked -p simulator
	target/release/simulator keys system.xml
	target/release/simulator boot system.xml --until-idle --timeout 600

# The fsctl demo: a tenant ledger in a temporary directory.
demo: setup
	$(CARGO) build --release --locked -p fsctl
	scripts/demo.sh target/release/fsctl

test: setup lint nostd
	$(CARGO) test --workspace --locked

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	@test -z "$$(gofmt -l crates/oracle/go)" || { gofmt -l crates/oracle/go; echo "gofmt needed"; exit 1; }

# Tier 2: the ledger core builds for a bare-metal target (no_std, no alloc).
nostd:
	$(CARGO) build --locked $(NOSTD_CRATES) --target $(NOSTD_TARGET)

# Regenerate system.xml and the system crate's tables from tenants.toml.
system: setup
	$(CARGO) run -q --locked -p sysgen

bench: setup
	$(CARGO) build --release --locked -p bench -p simulator
	target/release/service-fs-bench --write docs/performance.md

clean:
	$(CARGO) clean
