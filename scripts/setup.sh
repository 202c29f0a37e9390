#!/usr/bin/env bash
# Installs what building and testing service-fs needs, idempotently, on a
# fresh machine: the pinned Rust toolchain with its components and targets
# (rustup never installs anything by itself here), and the Debian packages
# the tests use (Go and golang.org/x/mod for the oracle, strace for the
# crash tests, a C compiler for the C client PDs, Go 1.23 for Ed25519ph);
# with `bench`, what the benchmark adds (a font for its plots).
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

# Go 1.23, from the release's backports suite: the tests check Rekor
# signatures with its crypto/ed25519 (Ed25519ph, which Debian's Go 1.19
# lacks), and the benchmark uses it as its second Go baseline (SHA-NI).
scripts/backports.sh
scripts/apt.sh golang-1.23-go

# `setup.sh bench`: also the TTF the benchmark's PNG plots are drawn with
# (loaded at run time from /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf).
if [ "${1:-}" = bench ]; then
    scripts/apt.sh fonts-dejavu-core
fi
