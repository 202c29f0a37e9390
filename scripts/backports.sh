#!/usr/bin/env bash
# Adds this Debian release's backports suite (bookworm-backports) to apt's
# existing Debian source, idempotently: the benchmark's Go 1.23 comes from
# there. Handles both source formats (deb822 .sources files and the
# one-line sources.list).
set -euo pipefail
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ -z "$codename" ] || ! grep -qi debian /etc/os-release; then
    echo "setup: backports: not a Debian release; install Go 1.23 at /usr/lib/go-1.23 yourself" >&2
    exit 1
fi
suite="$codename-backports"
# Whether an active source (a .list or .sources file apt reads, outside
# comments) names the suite.
configured() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && grep -v '^[[:space:]]*#' "$f" | grep -qw -- "$suite" && return 0
    done
    return 1
}
if configured; then
    exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
deb822=/etc/apt/sources.list.d/debian.sources
if [ -f "$deb822" ] && grep -q "^Suites:.*\b$codename\b" "$deb822"; then
    # The first stanza naming the release (not its security suite) gains it.
    new=$(awk -v c="$codename" -v s="$suite" '
        !done && /^Suites:/ && $0 !~ /security/ && (" " $0 " ") ~ (" " c " ") { $0 = $0 " " s; done = 1 }
        { print }' "$deb822")
    printf '%s\n' "$new" | $sudo tee "$deb822" >/dev/null
elif grep -qs "^deb .*debian.* $codename " /etc/apt/sources.list; then
    line=$(grep -m1 "^deb .*debian.* $codename " /etc/apt/sources.list)
    echo "${line/ $codename / $suite }" | $sudo tee -a /etc/apt/sources.list >/dev/null
else
    echo "setup: backports: no Debian $codename source found in /etc/apt to add $suite to" >&2
    exit 1
fi
configured
echo "setup: added $suite to apt's sources"
