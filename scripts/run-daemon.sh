#!/usr/bin/env bash
# `make run-daemon`: service-fsd on a temporary ledger root with two
# tenants (acme, globex), a token for each of their modules, and the
# commands to call it. Runs until Ctrl-C (SIGINT drains, then exits).
set -euo pipefail
bin=${1:?usage: run-daemon.sh TARGET_DIR [LISTEN]}
listen=${2:-127.0.0.1:8417}
dir=$(mktemp -d "${TMPDIR:-/tmp}/service-fsd.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$dir"' EXIT
fsctl="$bin/fsctl"

# Two tenants, in the same format as the repository's tenants.toml.
cat > "$dir/tenants.toml" <<'TOML'
[system]
max_record = 1024
client_buffer = 0x10000
records_size = 0x800000
audit_size = 0x200000
psdb_memory = 0x400000

[[tenant]]
name = "acme"
modules = [
    { name = "identity", role = "ring1" },
    { name = "reports", role = "ring2" },
    { name = "auditor", role = "audit" },
]

[[tenant]]
name = "globex"
modules = [
    { name = "payments", role = "ring1" },
    { name = "analytics", role = "ring2" },
    { name = "auditor", role = "audit" },
]
TOML

declare -A key token
for t in acme globex; do
    key[$t]=$("$fsctl" --dir "$dir/root" init "$t")
done
for m in acme:identity acme:reports acme:auditor globex:payments globex:analytics globex:auditor; do
    token[$m]=$("$fsctl" token add "${m%%:*}" "${m#*:}" --tenants "$dir/tenants.toml" \
        --credentials "$dir/credentials.toml" 2>/dev/null)
done

url="http://$listen"
cat <<EOT
service-fsd on $url, ledger root $dir/root (removed on exit; KEEP=1 keeps it).

Verifier keys (give them to auditors):
  acme    ${key[acme]}
  globex  ${key[globex]}

Tokens, one per module (tenants.toml role in brackets):
  W=${token[acme:identity]}    # acme.identity [ring1]
  R=${token[acme:reports]}    # acme.reports [ring2]
  A=${token[acme:auditor]}    # acme.auditor [audit]
  G=${token[globex:payments]}    # globex.payments [ring1]

Try, in another shell (after setting W, R, A and G as above):
  curl -s -H "Authorization: Bearer \$W" -H 'Content-Type: application/octet-stream' \\
       --data-binary 'user alice logged in' $url/v1/acme/records
  curl -s -H "Authorization: Bearer \$W" -H 'Content-Type: application/octet-stream' \\
       -H 'Idempotency-Key: order-1' --data-binary 'order 1 paid' $url/v1/acme/records   # twice: same index
  curl -s -H "Authorization: Bearer \$R" "$url/v1/acme/records?from=0" | xxd
  curl -s -H "Authorization: Bearer \$R" "$url/v1/acme/proofs/inclusion?index=0"
  curl -s -H "Authorization: Bearer \$R" $url/acme/checkpoint
  curl -s -H "Authorization: Bearer \$A" "$url/v1/acme/audit/records?from=0" | strings
  curl -s -H "Authorization: Bearer \$G" "$url/v1/acme/records?from=0"      # another tenant: 404
  curl -s $url/metrics | grep service_fs_
  $fsctl --dir $dir/root verify acme --key '${key[acme]}'

API: docs/http.md. Ctrl-C stops it.
EOT
exec "$bin/service-fsd" --dir "$dir/root" --tenants "$dir/tenants.toml" \
    --credentials "$dir/credentials.toml" --listen "$listen"
