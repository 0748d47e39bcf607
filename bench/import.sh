#!/usr/bin/env bash
# bench/import.sh: `storaged import` and Dovecot's `doveadm import`, same
# data, same machine, same run. Called by `make bench-import`.
#
# It generates, with testdata/gen-mailbox.py (deterministic: the same
# COUNT and SEED give the same bytes), a COUNT-message mbox and a
# COUNT-message Maildir in a temporary directory, then runs, one after
# the other, each into a fresh target:
#   storaged direct    `storaged import` with no server running (it opens
#                      the store itself), fresh data dir
#   storaged server    `storaged import` through a running `storaged serve`
#                      (its admin socket), fresh data dir
# for the mbox and for the Maildir, and then
#   doveadm            `doveadm import` of the same mbox and Maildir into a
#                      fresh Dovecot Maildir, run as the mail user (nobody),
#                      with a minimal temporary config (no Dovecot started:
#                      doveadm opens both stores itself; the source opened
#                      with INDEX=MEMORY so nothing is written beside it).
# Dovecot runs last: it may touch the source Maildir (new/ to cur/).
#
# For each run: wall time, messages/s, the importing process's peak RSS
# (/usr/bin/time %M) and, through the server, the server's (VmHWM from
# /proc/PID/status; each server is started fresh, so its high-water mark
# is this import's). The message count is checked against the target
# (storaged's summary; the files doveadm wrote). One Markdown table is
# printed and added to bench/IMPORT.md (newest first) with the date,
# machine, versions and the data. Everything started here is stopped and
# the temporary directory removed on exit (KEEP=1 keeps it).
#
# Dovecot (dovecot-core, for doveadm) is installed from Debian when
# missing, as bench/peer.sh does. Needs python3 and /usr/bin/time; run as
# root (doveadm is run as nobody through setpriv).
#
# From the environment:
#   COUNT=200000     messages in the mbox and in the Maildir
#   SEED=1           gen-mailbox.py's seed (the same for both formats)
#   RUNS_ONLY="..."  a subset of: storaged-direct-mbox storaged-server-mbox
#                    storaged-direct-maildir storaged-server-maildir
#                    doveadm-mbox doveadm-maildir
#   STORAGED_BIN=path   measure this binary instead of building the tree's
#   TMPDIR=/tmp      where the temporary directory goes (needs about
#                    5 × 11 KB × COUNT free: source twice, targets)
#   BENCH_NOTE=...   a line put under the table
#   RESULTS=bench/IMPORT.md, KEEP=1 keeps the temporary directory
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh

COUNT=${COUNT:-200000}
SEED=${SEED:-1}
ALL_RUNS="storaged-direct-mbox storaged-server-mbox storaged-direct-maildir storaged-server-maildir doveadm-mbox doveadm-maildir"
RUNS_ONLY=${RUNS_ONLY:-$ALL_RUNS}
STORAGED_BIN=${STORAGED_BIN:-}
BENCH_NOTE=${BENCH_NOTE:-}
RESULTS=${RESULTS:-bench/IMPORT.md}
GO=${GO:-go}
PYTHON=${PYTHON:-python3}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
want() { case " $RUNS_ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON is missing (testdata/gen-mailbox.py needs it)"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
command -v setpriv >/dev/null || die "setpriv is missing (util-linux)"
[ "$(id -u)" = 0 ] || die "run as root: doveadm is run as the mail user (nobody)"

# --- Dovecot from Debian ------------------------------------------------
if want doveadm-mbox || want doveadm-maildir; then
	if ! [ -x /usr/bin/doveadm ]; then
		command -v apt-get >/dev/null || die "doveadm is missing and there is no apt-get"
		log "installing dovecot-imapd (dovecot-core: doveadm)"
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; then
			apt-get update -qq >/dev/null
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
		fi
		[ -x /usr/bin/doveadm ] || die "doveadm still missing after apt-get"
	fi
fi
MAIL_USER=nobody
MAIL_UID=$(id -u $MAIL_USER) MAIL_GID=$(id -g $MAIL_USER)

# --- temporary directory and cleanup --------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/storaged-bench-import.XXXXXX")
chmod 755 "$T" # doveadm runs as nobody below it
SERVER_PID=
cleanup() {
	local rc=$?
	set +e
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	fi
	if [ "${KEEP:-}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- binary ---------------------------------------------------------------
mkdir -p "$T/bin"
if [ -n "$STORAGED_BIN" ]; then
	cp "$STORAGED_BIN" "$T/bin/storaged"
else
	log "building storaged"
	$GO build -o "$T/bin/storaged" ./cmd/storaged
fi
SD=$T/bin/storaged

# --- the data -----------------------------------------------------------------
# Sources readable by nobody; the mbox in a directory of its own that
# nobody may write (Dovecot's dotlock beside the file).
mkdir -p "$T/src/mbox"
log "generating $COUNT messages (seed $SEED): mbox"
gen_start=$(date +%s.%N)
"$PYTHON" testdata/gen-mailbox.py --count "$COUNT" --seed "$SEED" --format mbox --out "$T/src/mbox/inbox" --quiet
log "generating $COUNT messages (seed $SEED): Maildir"
"$PYTHON" testdata/gen-mailbox.py --count "$COUNT" --seed "$SEED" --format maildir --out "$T/src/Maildir" --quiet
gen_secs=$(echo "$(date +%s.%N) $gen_start" | awk '{printf "%.0f", $1 - $2}')
chown -R "$MAIL_UID:$MAIL_GID" "$T/src"
MBOX=$T/src/mbox/inbox
MAILDIR=$T/src/Maildir
mbox_bytes=$(stat -c %s "$MBOX")
maildir_bytes=$(du -sb "$MAILDIR" | awk '{print $1}')
log "data: mbox $((mbox_bytes >> 20)) MiB, Maildir $((maildir_bytes >> 20)) MiB, generated in ${gen_secs}s"

# --- helpers --------------------------------------------------------------
OUT=$T/results.tsv # run, messages, seconds, peak RSS KB (importer), server peak KB, importer peak RssAnon KB, server peak RssAnon KB (or -)
: >"$OUT"

# timed FILE CMD...: runs CMD under /usr/bin/time; FILE gets "seconds kB".
timed() {
	local f=$1
	shift
	/usr/bin/time -f '%e %M' -o "$f" "$@"
}

# anon_peak PID FILE: samples PID's RssAnon (anonymous memory: heap,
# stacks; not the file pages of a mapped index, which the kernel may drop)
# every 0.2 s while PID lives and keeps the largest in FILE (kB). VmHWM
# counts those mapped file pages too, so at 200,000 messages it grows with
# the index while RssAnon stays flat.
anon_peak() {
	local pid=$1 f=$2 max=0 v
	while v=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [ -n "$v" ]; do
		[ "$v" -gt "$max" ] && max=$v && echo "$max" >"$f"
		sleep 0.2
	done
}

# storaged_env DIR: a fresh data dir and config (unix sockets and
# loopback ports only), user ann.
storaged_env() {
	local d=$1
	mkdir -p "$d"
	cat >"$d/storaged.toml" <<EOF
data_dir = "$d/data"
hostname = "bench.localhost"
local_domains = ["example.org"]
[log]
level = "warn"
[lmtp]
listen = ["unix:$d/lmtp.sock"]
[imap]
listen = ["127.0.0.1:0"]
[pop3]
listen = ["127.0.0.1:0"]
EOF
	echo benchpw | "$SD" -config "$d/storaged.toml" user add ann -password-stdin >/dev/null
}

# added SUMMARY: the ADDED total of storaged import's summary.
added() { awk '$2 ~ /^\(/ && $3 == "folders)" {print $4; exit}' "$1"; }

# run_storaged NAME MODE SOURCE: MODE direct or server.
run_storaged() {
	local name=$1 mode=$2 src=$3 d=$T/$1 server_kb=- server_anon=- sampler= cli_sampler=
	storaged_env "$d"
	if [ "$mode" = server ]; then
		"$SD" -config "$d/storaged.toml" serve >"$d/serve.log" 2>&1 &
		SERVER_PID=$!
		for _ in $(seq 300); do
			[ -S "$d/data/admin.sock" ] && break
			kill -0 "$SERVER_PID" 2>/dev/null || die "storaged serve exited; see $d/serve.log: $(tail -5 "$d/serve.log")"
			sleep 0.1
		done
		[ -S "$d/data/admin.sock" ] || die "no admin socket after 30s; see $d/serve.log"
		echo 0 >"$d/server-anon"
		anon_peak "$SERVER_PID" "$d/server-anon" &
		sampler=$!
	fi
	log "$name: storaged import ($mode) of $src"
	echo 0 >"$d/cli-anon"
	timed "$d/time" "$SD" -config "$d/storaged.toml" import ann "$src" >"$d/summary" 2>"$d/progress" &
	local tpid=$! cpid=
	# The importer is a grandchild (this subshell, then /usr/bin/time).
	for _ in $(seq 100); do
		cpid=$(pgrep -x storaged -P "$(pgrep -d, -P "$tpid")" 2>/dev/null | head -1) && [ -n "$cpid" ] && break
		cpid=$(pgrep -x storaged -P "$tpid" 2>/dev/null | head -1) && [ -n "$cpid" ] && break
		sleep 0.01
	done
	[ -n "$cpid" ] && { anon_peak "$cpid" "$d/cli-anon" & cli_sampler=$!; }
	if ! wait "$tpid"; then
		die "$name failed: $(tail -5 "$d/summary" "$d/progress")"
	fi
	[ -n "$cli_sampler" ] && wait "$cli_sampler" 2>/dev/null
	if [ "$mode" = server ]; then
		server_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")
		kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
		server_anon=$(cat "$d/server-anon")
		kill -TERM "$SERVER_PID" && wait "$SERVER_PID" || die "$name: storaged serve did not stop cleanly; see $d/serve.log"
		SERVER_PID=
	fi
	local n
	n=$(added "$d/summary")
	[ "$n" = "$COUNT" ] || log "warning: $name added $n of $COUNT: $(cat "$d/summary")"
	read -r secs kb <"$d/time"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$n" "$secs" "$kb" "$server_kb" "$(cat "$d/cli-anon")" "$server_anon" >>"$OUT"
	rm -rf "$d/data" # room for the next run
}

# run_doveadm NAME LOCATION: doveadm import of LOCATION into a fresh Maildir.
run_doveadm() {
	local name=$1 loc=$2 d=$T/$1
	mkdir -p "$d/home" "$d/run" "$d/state"
	cat >"$d/dovecot.conf" <<EOF
# doveadm for bench/import.sh: no service started, everything under $d.
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
mail_location = maildir:$d/home/Maildir
first_valid_uid = $MAIL_UID
EOF
	chown -R "$MAIL_UID:$MAIL_GID" "$d"
	log "$name: doveadm import of $loc"
	if ! timed "$d/time" setpriv --reuid="$MAIL_UID" --regid="$MAIL_GID" --clear-groups \
		env -i PATH=/usr/bin:/bin HOME="$d/home" USER=$MAIL_USER \
		doveadm -c "$d/dovecot.conf" import -s "$loc" "" all >"$d/out" 2>&1; then
		die "$name failed: $(tail -5 "$d/out")"
	fi
	local n
	n=$(find "$d/home/Maildir/cur" "$d/home/Maildir/new" -type f | wc -l)
	[ "$n" = "$COUNT" ] || log "warning: $name wrote $n of $COUNT messages: $(tail -5 "$d/out")"
	read -r secs kb <"$d/time"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$n" "$secs" "$kb" - - - >>"$OUT"
	rm -rf "$d/home"
}

# --- the runs, one after the other ------------------------------------------------
want storaged-direct-mbox && run_storaged storaged-direct-mbox direct "$MBOX"
want storaged-server-mbox && run_storaged storaged-server-mbox server "$MBOX"
want storaged-direct-maildir && run_storaged storaged-direct-maildir direct "$MAILDIR"
want storaged-server-maildir && run_storaged storaged-server-maildir server "$MAILDIR"
want doveadm-mbox && run_doveadm doveadm-mbox "mbox:$T/src/mbox:INBOX=$MBOX:INDEX=MEMORY"
want doveadm-maildir && run_doveadm doveadm-maildir "maildir:$MAILDIR:INDEX=MEMORY"

# --- the table ----------------------------------------------------------------
TABLE=$(awk -F'\t' '
	{ name[NR] = $1; n[NR] = $2; s[NR] = $3; kb[NR] = $4; skb[NR] = $5; anon[NR] = $6; sanon[NR] = $7
	  rate[NR] = ($3 > 0) ? $2 / $3 : 0
	  if ($1 == "doveadm-mbox") dmbox = rate[NR]
	  if ($1 == "doveadm-maildir") dmd = rate[NR] }
	END {
		print "| run | messages | seconds | msg/s | peak RSS MB | peak RssAnon MB | server peak RSS MB | server peak RssAnon MB | msg/s vs doveadm |"
		print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
		for (i = 1; i <= NR; i++) {
			base = (name[i] ~ /mbox$/) ? dmbox : dmd
			ratio = (base > 0) ? sprintf("%.2f×", rate[i] / base) : "–"
			srv = (skb[i] == "-") ? "–" : sprintf("%.0f", skb[i] / 1024)
			an = (anon[i] == "-") ? "–" : sprintf("%.0f", anon[i] / 1024)
			san = (sanon[i] == "-") ? "–" : sprintf("%.0f", sanon[i] / 1024)
			printf "| %s | %d | %.1f | %.0f | %.0f | %s | %s | %s | %s |\n", name[i], n[i], s[i], rate[i], kb[i] / 1024, an, srv, san, ratio
		}
	}' "$OUT")

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
fs=$(df -T "$T" | awk 'NR==2 {print $2 " on " $1}')
dv=$(/usr/sbin/dovecot --version 2>/dev/null || echo unknown)
{
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(nproc) CPUs, $cpu, Linux $(uname -r), $T on $fs."
	echo "$("$SD" version 2>&1 | head -1) from $ROOT; Dovecot $dv from Debian (doveadm import, run as $MAIL_USER, no server running)."
	echo "Data: testdata/gen-mailbox.py --count $COUNT --seed $SEED, as one mbox ($((mbox_bytes >> 20)) MiB, mboxrd) and one Maildir ($((maildir_bytes >> 20)) MiB in cur/ and new/); mean $((mbox_bytes / COUNT)) bytes a message; generated in ${gen_secs}s."
	echo "Runs one after the other, each into a fresh target (storaged: a new data dir, Maildir, user ann, INBOX; Dovecot: a new Maildir)."
	echo "storaged-direct: no server running, the CLI opens the store; storaged-server: through a running storaged serve's admin socket."
	echo "doveadm: \`doveadm import -s SOURCE \"\" all\`, SOURCE mbox:…:INBOX=FILE:INDEX=MEMORY or maildir:…:INDEX=MEMORY."
	echo "Peak RSS: the importing process's (/usr/bin/time %M; through the server that is the client); server: storaged serve's VmHWM, started fresh for that import. Peak RssAnon: the largest RssAnon sampled every 0.2 s (heap and stacks, without the mapped index's file pages that VmHWM also counts)."
	echo "Ratio: msg/s over doveadm's for the same source format (>1: storaged faster)."
	[ -n "$BENCH_NOTE" ] && { echo; echo "**$BENCH_NOTE**"; }
	echo
	echo "$TABLE"
	echo
} >"$T/section.md"
prepend_results "$RESULTS" "# storaged import vs doveadm import: \`make bench-import\`

Newest run first. Figures from one machine and one run compare the two; across runs or machines they do not." "$T/section.md"
echo
cat "$T/section.md"
log "wrote $RESULTS"
