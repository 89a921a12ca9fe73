#!/usr/bin/env bash
# The man pages against the programs they document.
#
#   man_pages.sh NIMBUS_BINARY NIMBUS_REMOTE_BINARY MAN_DIR
#
# (a) docs/man/nimbus.1 and nimbus-remote.1 render without a single groff
#     warning (groff -man -ww);
# (b) every long option that `nimbus --help` lists has its own entry in the
#     OPTIONS section of nimbus.1, and that entry names every key=... of the
#     option's help line; every command and long option that
#     `nimbus-remote --help` lists has an entry in nimbus-remote.1 (COMMANDS
#     and OPTIONS sections).
# One PASS or FAIL line per check; exit status 1 if any failed, 77 (skip)
# without groff.
set -u

nimbus=${1:?usage: man_pages.sh NIMBUS NIMBUS_REMOTE MAN_DIR}
remote=${2:?usage: man_pages.sh NIMBUS NIMBUS_REMOTE MAN_DIR}
mandir=${3:?usage: man_pages.sh NIMBUS NIMBUS_REMOTE MAN_DIR}
export LC_ALL=C

if ! command -v groff >/dev/null; then
  echo "SKIP: groff is not installed"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nimbus-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=0
pass() { echo "PASS: $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# ---- (a) rendering -------------------------------------------------------------
for page in nimbus.1 nimbus-remote.1; do
  src=$mandir/$page
  if [ ! -r "$src" ]; then
    fail "$page: cannot read $src"
    continue
  fi
  groff -man -Tutf8 -ww -z "$src" 2>"$tmp/warn"
  rc=$?
  if [ "$rc" -ne 0 ] || [ -s "$tmp/warn" ]; then
    fail "$page: groff -man -ww reports (status $rc):"
    sed 's/^/    | /' "$tmp/warn"
  else
    pass "$page renders without warnings"
  fi
  # Plain text, one line per paragraph (no filling breaks, no hyphenation
  # of an option name), for the checks below.
  groff -man -Tascii -rLL=2000n -P-cbou "$src" 2>/dev/null >"$tmp/$page.txt"
done

# section PAGE NAME: the lines of section NAME of a rendered page.
section() {
  awk -v name="$2" '/^[A-Z]/ { on = ($0 == name) } on' "$tmp/$1.txt"
}

# entry PAGE SECTION TAG_REGEX: the entry (tag line and description) whose
# tag line matches TAG_REGEX (tags are indented by 7 spaces).
entry() {
  section "$1" "$2" | awk -v re="$3" '
    /^       [^ ]/ { on = ($0 ~ re) }
    on'
}

# long_options HELP_FILE: the --name tokens of a --help text.
long_options() {
  grep -oE -- '(^|[^a-z0-9-])--[a-z][a-z0-9-]*' "$1" | sed 's/^[^-]*//' | sort -u
}

# ---- (b) nimbus --help against nimbus.1 -----------------------------------------
if ! "$nimbus" --help >"$tmp/nimbus.help" 2>&1; then
  fail "nimbus --help failed"
fi
opts=$(long_options "$tmp/nimbus.help")
[ -n "$opts" ] || fail "nimbus --help lists no long option"
missing=""
for opt in $opts; do
  # Its own tag in OPTIONS: "--name=ARG", "--name ..." or "-x, --name".
  re="^       (-[A-Za-z], )?$opt([=[ ]|$)"
  entry nimbus.1 OPTIONS "$re" >"$tmp/entry"
  if [ ! -s "$tmp/entry" ]; then
    fail "nimbus.1: option $opt (in nimbus --help) has no entry in OPTIONS"
    missing=yes
    continue
  fi
  # The keys (key=) its help line names must be in its entry.
  line=$(grep -E -- "^ +(-[A-Za-z], )?$opt([= ]|$)" "$tmp/nimbus.help" | head -1)
  desc=$(printf '%s\n' "$line" | sed -E 's/^ +[^ ]+( +|$)//')
  for key in $(printf '%s\n' "$desc" | grep -oE '(^|[^a-z_])[a-z_]+=' | sed -E 's/^[^a-z_]//' | sort -u); do
    if ! grep -qF -- "$key" "$tmp/entry"; then
      fail "nimbus.1: the entry of $opt does not mention $key (in nimbus --help)"
      missing=yes
    fi
  done
done
[ -z "$missing" ] && pass "nimbus.1 documents all $(echo "$opts" | wc -w) long options of nimbus --help, with their keys"

# ---- (b) nimbus-remote --help against nimbus-remote.1 ---------------------------
if ! "$remote" --help >"$tmp/remote.help" 2>&1; then
  fail "nimbus-remote --help failed"
fi
cmds=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }' "$tmp/remote.help")
[ -n "$cmds" ] || fail "nimbus-remote --help lists no command"
missing=""
for cmd in $cmds; do
  entry nimbus-remote.1 COMMANDS "^       $cmd( |$)" >"$tmp/entry"
  if [ ! -s "$tmp/entry" ]; then
    fail "nimbus-remote.1: command $cmd (in nimbus-remote --help) has no entry in COMMANDS"
    missing=yes
  fi
done
[ -z "$missing" ] && pass "nimbus-remote.1 documents all $(echo "$cmds" | wc -w) commands of nimbus-remote --help"

opts=$(long_options "$tmp/remote.help")
missing=""
for opt in $opts --api-socket --version --help; do
  entry nimbus-remote.1 OPTIONS "^       (-[A-Za-z], )?$opt([=[ ]|$)" >"$tmp/entry"
  if [ ! -s "$tmp/entry" ]; then
    fail "nimbus-remote.1: option $opt has no entry in OPTIONS"
    missing=yes
  fi
done
[ -z "$missing" ] && pass "nimbus-remote.1 documents the options of nimbus-remote --help"

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
