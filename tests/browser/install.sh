#!/usr/bin/env bash
# Install headless Chromium (Debian's `chromium` package) for tests/workflow/test_report.py, which opens
# the Snakemake report in it through Playwright. Run as root; does nothing when it is installed.
# Playwright's own browser download (`playwright install`) is not used.
#
#   tests/browser/install.sh        # prints the browser's path on success
#
# Another process may hold the dpkg lock (apt run by someone else): wait for it up to 10 min.
set -euo pipefail

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"
export LC_ALL=C
BROWSER=/usr/bin/chromium
LOG="${DLN_BROWSER_LOG:-/tmp/dln-browser-apt.log}"

log() { printf '[install.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q '^install ok installed$' \
    && [[ -x "$BROWSER" ]]; then
    echo "$BROWSER"
    exit 0
fi
[[ "$(id -u)" == 0 ]] || die "needs root (installs Debian's chromium with apt-get)"
command -v apt-get >/dev/null || die "needs apt-get"

apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -qq
     install --no-install-recommends chromium)
log "installing chromium (log: $LOG)"
# Try with the current package lists first; refresh them only on failure (empty or stale lists).
if ! "${apt[@]}" >"$LOG" 2>&1; then
    log "apt-get install failed; running apt-get update and retrying"
    apt-get -o DPkg::Lock::Timeout=600 update -qq >>"$LOG" 2>&1 || true
    "${apt[@]}" >>"$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; die "apt-get install failed"; }
fi
[[ -x "$BROWSER" ]] || die "$BROWSER missing after installing chromium"
echo "$BROWSER"
