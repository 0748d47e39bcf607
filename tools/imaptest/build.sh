#!/usr/bin/env bash
# build.sh [DIR]: build Dovecot's imaptest (the IMAP compliance and stress tester) from the
# release-2.3 source snapshot beside this script, against Debian's libdovecot, into DIR
# (default: $TMPDIR/imaptest). Prints the binary's path on the last line.
# Installs what it needs with apt-get when missing (as root, or through sudo -n): dovecot-dev
# (headers), dovecot-core (libdovecot.so, which dovecot-dev does not pull in), autoconf,
# automake, libtool, make, gcc, pkg-config. About a minute on 2 cores. Only the library is
# wanted: a dovecot service that installing dovecot-core started is stopped again.
# Exit status 1 when the build is impossible (no apt-get, no root, no network): the caller
# decides whether that is a skip.
# Debian 12's dovecot 2.3.19 headers take a 4th argument to imap_parser_create(); the three
# call sites are patched for it. The binary carries an rpath to /usr/lib/dovecot (no
# LD_LIBRARY_PATH needed). The build goes to src/imaptest last, so a half-done DIR is redone.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${TMPDIR:-/tmp}/imaptest}
mkdir -p "$(dirname "$dir")"
# One build at a time per DIR: concurrent test runs wait for the first one's build.
if command -v flock >/dev/null 2>&1; then exec 9>"$dir.lock"; flock 9; fi
if [ -x "$dir/src/imaptest" ]; then echo "$dir/src/imaptest"; exit 0; fi
need=""
[ -f /usr/include/dovecot/imap-parser.h ] || need="$need dovecot-dev"
[ -e /usr/lib/dovecot/libdovecot.so ] || need="$need dovecot-core"
for t in autoconf:autoconf automake:automake libtoolize:libtool make:make gcc:gcc pkg-config:pkg-config; do
  command -v "${t%%:*}" >/dev/null 2>&1 || need="$need ${t#*:}"
done
if [ -n "$need" ]; then
  command -v apt-get >/dev/null 2>&1 || { echo "build.sh: need$need and there is no apt-get" >&2; exit 1; }
  asroot=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || { echo "build.sh: need$need: not root and no sudo -n" >&2; exit 1; }
    asroot="sudo -n"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $asroot apt-get install -y -q $need >/dev/null 2>&1 || { $asroot apt-get update -q >/dev/null 2>&1; $asroot apt-get install -y -q $need >/dev/null; } ||
    { echo "build.sh: apt-get install$need failed" >&2; exit 1; }
  case "$need" in *dovecot-core*)
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
      $asroot systemctl disable --now dovecot >/dev/null 2>&1 || true
    fi ;;
  esac
fi
rm -rf "$dir"
tmp=$(mktemp -d); tar -xzf "$here/imaptest-release-2.3.tar.gz" -C "$tmp"; mv "$tmp/imaptest" "$dir"; rmdir "$tmp"
cd "$dir"
sed -i 's/imap_parser_create(\(.*\), (size_t)-1)/imap_parser_create(\1, (size_t)-1, NULL)/' \
  src/commands.c src/test-parser.c src/imap-client.c
# imaptest's QRESYNC mode SELECTs with a cached view of the mailbox, which it puts in place
# at "* OK [UIDVALIDITY]" and grows to the EXISTS count only at the tagged OK. A "* n FETCH"
# for a message appended since the cache was made (RFC 7162 section 3.2.5.1: every message
# whose MODSEQ is above the client's, new ones included; Dovecot sends the same) then has a
# sequence number past the cached view, and imaptest panics in array_idx_modifiable_i. The
# view is grown to n first, as the EXISTS that announced the message would have.
perl -0pi -e 's/(\t+)(\} else if \(!conf\.no_tracking && strcmp\(str, "FETCH"\) == 0\))\n(\t+)(mailbox_state_handle_fetch\(client, num, args\);)/$1$2 {\n$3if (client->qresync_select_cache != NULL \&\& num > array_count(\&view->uidmap))\n$3\timap_client_exists(client, num);\n$3$4\n$1}/' src/imap-client.c
grep -q 'qresync_select_cache != NULL && num > array_count' src/imap-client.c || { echo "build.sh: the QRESYNC FETCH patch did not apply" >&2; exit 1; }
{ ./autogen.sh && ./configure --with-dovecot=/usr/lib/dovecot LDFLAGS=-Wl,-rpath,/usr/lib/dovecot && make -j2; } >build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
echo "$dir/src/imaptest"
