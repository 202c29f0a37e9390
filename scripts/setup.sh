#!/usr/bin/env bash
# Installs what building and testing service-fs needs, idempotently, on a
# fresh machine: the pinned Rust toolchain with its components and targets
# (rustup never installs anything by itself here), and the Debian packages
# the tests use (Go and golang.org/x/mod for the oracle, strace for the
# crash tests, a C compiler for the C client PDs); with `bench`, what the
# benchmark adds (Go 1.23).
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

# `setup.sh bench`: also Go 1.23 (SHA-NI), the benchmark's second Go
# baseline beside Debian's Go 1.19, from the release's backports suite,
# and the TTF the benchmark's PNG plots are drawn with (loaded at run time
# from /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf).
if [ "${1:-}" = bench ]; then
    scripts/backports.sh
    scripts/apt.sh golang-1.23-go fonts-dejavu-core
fi
