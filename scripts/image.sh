#!/usr/bin/env bash
# Builds the seL4 system image: every PD program for the board's target,
# then the Microkit tool's loader image from system.xml.
#
#   scripts/image.sh [SYSTEM_XML [OUT_DIR]]
#
# Environment (the Makefile passes its variables):
#   MICROKIT_SDK     the Microkit 2.3.0 SDK (required)
#   MICROKIT_BOARD   a board in board/ and in the SDK (default qemu_virt_aarch64)
#   MICROKIT_CONFIG  debug or release (default debug)
#   RUST_SEL4        optional: a local git clone of rust-sel4 holding the
#                    pinned revision, used instead of GitHub (offline builds)
#   IMAGE_LINT       optional: also run clippy on the image crates
#
# Writes OUT_DIR/loader.img and OUT_DIR/report.txt (default build/), the
# programs under OUT_DIR/image/<board>/.
set -euo pipefail
cd "$(dirname "$0")/.."

system=${1:-system.xml}
out=${2:-build}
board=${MICROKIT_BOARD:-qemu_virt_aarch64}
config=${MICROKIT_CONFIG:-debug}
sdk_version=2.3.0
toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' image/rust-toolchain.toml)

fail() {
    echo "make image: $*" >&2
    exit 1
}

scripts/check-sdk.sh
[ -f "board/$board/board.toml" ] || fail "no board/$board/board.toml: boards here are $(ls board | tr '\n' ' ')"
[ -d "$MICROKIT_SDK/board/$board/$config" ] ||
    fail "the SDK at $MICROKIT_SDK has no board $board in config $config"
case $config in debug | release) ;; *) fail "MICROKIT_CONFIG is debug or release, not $config" ;; esac
target=$(sed -n 's/^rust_target = "\(.*\)"/\1/p' "board/$board/board.toml")
# The disk's virtio-mmio transport ([disk] mmio), for the block driver.
SERVICE_FS_BLK_MMIO=$(sed -n '/^\[disk\]/,/^\[/s/^mmio = \([0-9a-fx_]*\).*/\1/p' "board/$board/board.toml")
export SERVICE_FS_BLK_MMIO

# The PDs' toolchain (rust-sel4's pinned nightly) and libclang, which
# rust-sel4's sel4-sys needs to read the SDK's libsel4 headers.
rustup toolchain install "$toolchain" --profile minimal --component rustfmt,clippy \
    --target "$target" 2>&1 | grep -v '^info: ' || true
scripts/apt.sh libclang-dev binutils

if [ -n "${RUST_SEL4:-}" ]; then
    # Fetch the pinned rust-sel4 from a local clone: git rewrites the URL,
    # so Cargo.lock stays exactly as committed.
    [ -d "$RUST_SEL4/.git" ] || [ -f "$RUST_SEL4/HEAD" ] || fail "RUST_SEL4=$RUST_SEL4 is not a git repository"
    export GIT_CONFIG_COUNT=1
    export GIT_CONFIG_KEY_0="url.file://$(cd "$RUST_SEL4" && pwd).insteadOf"
    export GIT_CONFIG_VALUE_0=https://github.com/seL4/rust-sel4
    export CARGO_NET_GIT_FETCH_WITH_CLI=true
fi

# Another board than the committed description's: its own description
# (its disk device, or psdb's memory store), with the same tenants and keys.
keys_from="$system"
if [ "$system" = system.xml ] && [ "$board" != qemu_virt_aarch64 ]; then
    system="$out/board/$board/system.xml"
    cargo run -q --locked -p sysgen -- --board "$board" --xml "$system"
    echo "make image: $system describes $board"
fi

# Signing key seeds for the tenants (prefilled into their key regions).
cargo build -q --release --locked -p simulator
target/release/simulator keys "$keys_from"

echo "make image: building the PD programs for $target ($board, $config)"
(
    cd image
    export SEL4_INCLUDE_DIRS="$MICROKIT_SDK/board/$board/$config/include"
    if [ -n "${IMAGE_LINT:-}" ]; then
        cargo +"$toolchain" clippy --release --locked --target "$target" -- -D warnings
    fi
    cargo +"$toolchain" build --release --locked --target "$target"
)
programs="$out/image/$board"
mkdir -p "$programs"
for bin in image/programs/src/bin/*.rs; do
    p=$(basename "$bin" .rs)
    cp "image/target/$target/release/$p" "$programs/$p.elf"
done

# A program's code: the memory sizes of its executable LOAD segments.
code_bytes() {
    local type memsz flags total=0
    # LOAD offset vaddr paddr filesz memsz flags (`R E`, two words) align
    while read -r type _ _ _ _ memsz flags; do
        [ "$type" = LOAD ] || continue
        case $flags in *E*) total=$((total + memsz)) ;; esac
    done < <(readelf -lW "$1")
    echo "$total"
}
# The ledger PD holds at most 128 KiB of code (docs/image.md, "Code size").
ledger_code_max=$((128 * 1024))
ledger_code=$(code_bytes "$programs/ledger.elf")
[ "$ledger_code" -gt 0 ] || fail "could not read the code size of $programs/ledger.elf"
[ "$ledger_code" -le "$ledger_code_max" ] ||
    fail "ledger.elf has $((ledger_code / 1024)) KiB of code, more than the $((ledger_code_max / 1024)) KiB allowed (docs/image.md, \"Code size\")"
echo "make image: ledger.elf $((ledger_code / 1024)) KiB of code (at most $((ledger_code_max / 1024)))"
# The integrators' programs (programs/, examples/): C and Rust.
scripts/programs.sh sel4 "$programs"

# Prefilled files (the PDs' configurations, the key seeds) are found
# beside the description first, then from the repository's root.
"$MICROKIT_SDK/bin/microkit" "$system" --search-path "$programs" "$(dirname "$system")" . \
    --board "$board" --config "$config" -o "$out/loader.img" -r "$out/report.txt"
# The description and its configurations stay beside the image: the QEMU
# runner reads the system's tenants and disk size there.
if [ "$(realpath "$system")" != "$(realpath -m "$out/system.xml")" ]; then
    cp "$system" "$out/system.xml"
    rm -rf "$out/system"
    cp -r "${system%.xml}" "$out/system"
fi
echo "make image: $out/loader.img ($board, $config)"
