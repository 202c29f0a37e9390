#!/usr/bin/env bash
# The service-fs demo (`make run`): a tenant ledger in a temporary
# directory, driven with fsctl, narrating each step.
set -euo pipefail
fsctl=${1:?usage: demo.sh PATH/TO/fsctl}
bin=$(dirname "$fsctl")
dir=$(mktemp -d "${TMPDIR:-/tmp}/service-fs-demo.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$dir"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

step "Create tenant 'acme' in $dir; fsctl prints its verifier key"
key=$(run "$fsctl" --dir "$dir" init acme)
echo "$key"

step "Append three records (one per line of standard input) and a file"
printf 'user alice logged in\nuser bob changed role\nuser alice logged out\n' | run "$fsctl" --dir "$dir" append acme
printf '{"event":"export","rows":1200}' > "$dir/event.json"
run "$fsctl" --dir "$dir" append acme "$dir/event.json"

step "Read them back (every read is recorded in the audit ledger first)"
run "$fsctl" --dir "$dir" read acme --from 0
run "$fsctl" --dir "$dir" read acme --from 3 --format json

step "Sign a checkpoint: a C2SP signed note over the tree size and root hash"
run "$fsctl" --dir "$dir" checkpoint acme

step "Prove record 1 is in the ledger, and that the 2-record ledger is a prefix of it"
run "$fsctl" --dir "$dir" prove acme --index 1
run "$fsctl" --dir "$dir" prove acme --old-size 2

step "The ledger is a plain C2SP tlog-tiles directory"
(cd "$dir/acme" && find log -type f | sort)

step "Verify everything from the files, with only the verifier key"
run "$fsctl" --dir "$dir" verify acme --key "$key"

step "The audit ledger: who read what (never the records themselves)"
run "$fsctl" --dir "$dir" read acme --audit --from 0

step "Flip one byte of a stored record: verify finds it and names the file"
cp -a "$dir/acme" "$dir/tampered-copy"
mkdir -p "$dir/t" && mv "$dir/tampered-copy" "$dir/t/acme"
printf 'X' | dd of="$dir/t/acme/log/tile/entries/000.p/4" bs=1 seek=10 conv=notrunc status=none
if "$fsctl" --dir "$dir/t" verify acme --key "$key"; then
    echo "tampering went unnoticed" >&2
    exit 1
fi
echo "(exit status 1, as expected)"

step "Anchor the checkpoint in Rekor (here a Rekor-compatible log on loopback: no network)"
"$bin/fake-rekor" --listen 127.0.0.1:0 > "$dir/rekor.out" &
rekor_pid=$!
trap 'kill $rekor_pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q '^log key: ' "$dir/rekor.out" 2>/dev/null && break; sleep 0.1; done
rekor_url=$(sed -n 's/^fake-rekor: listening on //p' "$dir/rekor.out")
rekor_key=$(sed -n 's/^log key: //p' "$dir/rekor.out")
run "$bin/fs-anchor-emitter" --dir "$dir" --rekor-url "$rekor_url" --rekor-key "$rekor_key"
echo "(a second run this month changes nothing:)"
run "$bin/fs-anchor-emitter" --dir "$dir" --rekor-url "$rekor_url" --rekor-key "$rekor_key"

step "Check the anchor chain offline: tenant signature, consistency, Rekor inclusion"
printf 'one more\n' | run "$fsctl" --dir "$dir" append acme
run "$fsctl" --dir "$dir" anchors verify acme --key "$key" --rekor-key "$rekor_key"
run "$fsctl" --dir "$dir" anchors list acme

step "Done"
echo "service-fs ledger demo complete${KEEP:+; files kept in $dir}"
