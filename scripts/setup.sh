#!/usr/bin/env bash
# Installs what building and testing service-fs needs, idempotently, on a
# fresh machine: the pinned Rust toolchain with its components and targets
# (rustup never installs anything by itself here), and the Debian packages
# the tests use (Go and golang.org/x/mod for the oracle, strace for the
# crash tests, a C compiler for the C client PDs).
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
if ! command -v rustup >/dev/null; then
    echo "setup: rustup is required (https://rustup.rs)" >&2
    exit 1
fi
rustup toolchain install "$toolchain" --profile minimal \
    --component rustfmt,clippy --target aarch64-unknown-none 2>&1 | grep -v '^info: ' || true

scripts/apt.sh golang-go golang-golang-x-mod-dev strace gcc libc6-dev
