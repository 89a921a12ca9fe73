#!/bin/bash
# bench-migration (host side): every run of both VMMs completed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=check-lib.sh
. "$(dirname "$0")/../check-lib.sh" "$1"
expect_l1
n=$(grep -c '^BENCH migration .* rc=0' <<<"$LAB_TEXT" || true)
bad=$(grep -c '^BENCH migration .* rc=[1-9]' <<<"$LAB_TEXT" || true)
if ((n > 0 && bad == 0)); then pass "$n migrations completed"; else fail "migrations: $n ok, $bad failed"; fi
lab_finish
