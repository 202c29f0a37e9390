#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/, docs/fuzzing.md), each for FUZZ_SECS
# seconds, from a scratch corpus in build/fuzz/corpus/<target> seeded from
# fuzz/corpus/<target> (the committed seeds never grow). Installs what it
# needs first, idempotently: the pinned nightly (sanitizers need it), a C++
# compiler for libFuzzer, and cargo-fuzz at a pinned version.
#
#   scripts/fuzz.sh                 every target
#   scripts/fuzz.sh note_open tile  just these
#   scripts/fuzz.sh --install       install only
#
# Fails, naming them, if any target found a crash; its input is then in
# build/fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

NIGHTLY=nightly-2026-04-04
# What builds the targets: the nightly with AddressSanitizer, unless
# install() finds the nightly cannot be had.
TOOLCHAIN=$NIGHTLY
SANITIZER=address
CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECS=${FUZZ_SECS:-60}
root=$PWD
build=$root/build/fuzz

install() {
    if ! command -v rustup >/dev/null; then
        echo "fuzz: rustup is required (https://rustup.rs)" >&2
        exit 1
    fi
    rustup toolchain install "$NIGHTLY" --profile minimal 2>&1 | grep -v '^info: ' || true
    if ! rustc +"$NIGHTLY" --version >/dev/null 2>&1; then
        # A machine that cannot fetch toolchains still fuzzes: with the
        # workspace's own toolchain, coverage-guided, without AddressSanitizer
        # (panics, overflow and bounds checks still end a run as a crash).
        TOOLCHAIN=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
        SANITIZER=none
        echo "fuzz: $NIGHTLY cannot be installed here: fuzzing with $TOOLCHAIN, without AddressSanitizer" >&2
    fi
    scripts/apt.sh g++
    if ! cargo-fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
        echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
        cargo install -q cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
}

install
[ "${1:-}" = --install ] && exit 0

cd fuzz
# The lock file is committed: refuse to change it.
cargo +"$TOOLCHAIN" metadata --locked --format-version 1 >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cargo +"$TOOLCHAIN" fuzz list)
fi
export CARGO_TARGET_DIR=$build/target
# One build of every target (sanitizer: address, the default; debug
# assertions on), then the runs, which find it built.
nice cargo +"$TOOLCHAIN" fuzz build --release --debug-assertions --sanitizer "$SANITIZER"
failed=()
for t in "${targets[@]}"; do
    corpus=$build/corpus/$t
    artifacts=$build/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    # A target's own options, if any: fuzz/options/<target>, one a line,
    # libFuzzer flags (-name=value) or environment variables (NAME=value).
    options=() env=()
    if [ -f "options/$t" ]; then
        mapfile -t options < <(grep '^-' "options/$t")
        mapfile -t env < <(grep '^[A-Z_]*=' "options/$t")
    fi
    echo "fuzz: $t for ${FUZZ_SECS}s"
    if ! env "${env[@]}" cargo +"$TOOLCHAIN" fuzz run --release --debug-assertions --sanitizer "$SANITIZER" "$t" "$corpus" "corpus/$t" -- \
        -max_total_time="$FUZZ_SECS" -artifact_prefix="$artifacts/" -print_final_stats=1 "${options[@]}" \
        >"$build/$t.log" 2>&1; then
        echo "fuzz: $t FAILED: see $build/$t.log and $artifacts/" >&2
        tail -n 30 "$build/$t.log" >&2
        failed+=("$t")
    else
        grep -E '^stat::number_of_executed_units|^Done' "$build/$t.log" | tr '\n' ' ' || true
        echo
    fi
done
if ((${#failed[@]})); then
    echo "fuzz: crashes in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crash in ${FUZZ_SECS}s each"
