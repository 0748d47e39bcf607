#!/usr/bin/env bash
# bench/peer.sh: storaged and Dovecot side by side, same machine, same run,
# same client (cmd/storaged-bench). Called by `make bench-peer`.
#
# It installs Dovecot from Debian when missing, starts one Dovecot instance
# per mail_fsync mode (optimized, always) and one storaged, all on loopback
# ports from a temporary directory (no system service or file touched),
# fills them with the same messages over LMTP, runs every scenario RUNS
# times against each server in turn (the order flips every run), and
# writes one table to bench/RESULTS.md (newest first). Everything it
# started is stopped and its temporary directory removed on exit.
#
# Sizes, overridable from the environment:
#   RUNS=3                timed runs per scenario and server (after one warm-up for reads)
#   LMTP_N=2000           messages per LMTP run
#   LMTP_SIZES="4096 102400"   message sizes
#   LMTP_CONNS="1 4 20"   connection counts (Postfix's default destination concurrency is 20)
#   LMTP_USERS="1 100"    recipient counts (round robin)
#   IMAP_N=10000          messages in the IMAP mailbox (FETCH, SEARCH); the 100,000-message
#                         rows: IMAP_N=100000 FILL_MODE=maildir SCENARIOS="imap-meta imap-body"
#   POP3_N=2000           messages in the POP3 maildrop
#   IDLE_CONNS=100        IMAP connections in IDLE for the notification latency
#   IDLE_ROUNDS=5         messages delivered, one at a time, to the idle mailbox
#   RSS_CONNS=1000        idle IMAP connections while the servers' memory is measured
#   BIG_SIZE=41943040 BIG_CONNS=20   lmtp-big: that many deliveries of that size at
#                         once, and each server's peak RSS (VmHWM, its processes summed);
#                         run first and once, since a high-water mark only grows
#   STORAGED_BIN=path     measure this storaged binary instead of building the tree's
#   MSG_SIZE=4096         size of the IMAP and POP3 messages
#   FSYNC_MODES="optimized always"   one Dovecot instance each; LMTP runs on all
#   READ_MODES=optimized  the Dovecot instances the read scenarios run on
#   SCENARIOS="disk lmtp-big lmtp imap-meta imap-body imap-search imap-sort pop3-retr imap-idle rss
#             tls-handshake imaps-body login-rss"
#   disk:                 the disk's ceiling (storaged-bench disk, RUNS times, before the
#                         LMTP runs): files of the first LMTP size created, written and
#                         fsynced per second, then also renamed and their directory
#                         fsynced, 1-, 4- and 20-way, on the file system of the servers' data
#   TLS_N=1000 TLS_CONNS=16   tls-handshake: that many full handshakes on the
#                         implicit-TLS IMAP port, up to the greeting, one after the
#                         other and then by TLS_CONNS clients at once
#   LOGIN_CONNS=500       login-rss: that many IMAP LOGINs at once, each from a loopback
#                         address of its own and as a user of its own, while the
#                         servers' RSS is sampled
#
# The TLS scenarios. Both servers get the same ECDSA P-256 certificate and
# key, made here with `storaged cert selfsigned` (Dovecot: ssl = yes, an
# imaps inet_listener; storaged: [tls] and [imap] listen_tls), and the
# client decides the rest for both: TLS 1.3, X25519, no session
# resumption, the certificate verified.
#   tls-handshake: handshakes per second, sequential and concurrent, each a
#                  full one (a signature by the server's key) up to "* OK".
#   imaps-body:    imap-body's FETCH BODY.PEEK[] of the IMAP mailbox over
#                  implicit TLS, in MB/s (Dovecot's login process proxies the
#                  TLS; storaged's session does it itself).
#                  Dovecot's imap-login stays at its default, high-security mode
#                  (service_count = 1: a process forked per connection), as
#                  Debian installs it.
#   login-rss:     the peak of the servers' summed RSS (sampled every 20 ms)
#                  during LOGIN_CONNS parallel logins with the right password,
#                  and the time until the last OK. The users (login1, login2,
#                  ...: a new set each run, so that no cache of verified
#                  passwords helps) have the same argon2id hash (64 MiB, t=3,
#                  written by `storaged user add`) on both servers. Each
#                  connection comes from its own 127.1.x.y: storaged's
#                  throttle counts logins in flight against an address's
#                  failure limit (20), which 500 from one address exceed.
#                  Run last: it grows both servers' memory for what follows.
#   FILL_MODE=lmtp        how the IMAP mailbox is filled: "lmtp" delivers it to each
#                         server; "maildir" writes the same messages into each server's
#                         Maildir (cur/) before the server first opens it, as an admin
#                         copying a store in would (for IMAP_N=100000: Dovecot's LMTP
#                         fill alone takes most of an hour here); both index the files
#                         in the untimed warm-up
#   BENCH_NOTE=...        a line put under the table (e.g. "noisy: other jobs running")
#   RESULTS=bench/RESULTS.md, KEEP=1 keeps the temporary directory
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh

RUNS=${RUNS:-3}
LMTP_N=${LMTP_N:-2000}
LMTP_SIZES=${LMTP_SIZES:-"4096 102400"}
LMTP_CONNS=${LMTP_CONNS:-"1 4 20"}
LMTP_USERS=${LMTP_USERS:-"1 100"}
IMAP_N=${IMAP_N:-10000}
POP3_N=${POP3_N:-2000}
IDLE_CONNS=${IDLE_CONNS:-100}
IDLE_ROUNDS=${IDLE_ROUNDS:-5}
RSS_CONNS=${RSS_CONNS:-1000}
MSG_SIZE=${MSG_SIZE:-4096}
FILL_MODE=${FILL_MODE:-lmtp}
FSYNC_MODES=${FSYNC_MODES:-"optimized always"}
READ_MODES=${READ_MODES:-optimized}
SCENARIOS=${SCENARIOS:-"disk lmtp-big lmtp imap-meta imap-body imap-search imap-sort pop3-retr imap-idle rss tls-handshake imaps-body login-rss"}
TLS_N=${TLS_N:-1000}
TLS_CONNS=${TLS_CONNS:-16}
LOGIN_CONNS=${LOGIN_CONNS:-500}
BIG_SIZE=${BIG_SIZE:-41943040}
BIG_CONNS=${BIG_CONNS:-20}
STORAGED_BIN=${STORAGED_BIN:-}
BENCH_NOTE=${BENCH_NOTE:-}
RESULTS=${RESULTS:-bench/RESULTS.md}
GO=${GO:-go}
PASSWORD=benchpw
DOMAIN=localhost

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
has() { case " $SCENARIOS " in *" $1 "*) return 0 ;; esac; return 1; }

# --- Dovecot from Debian ------------------------------------------------
need_dovecot() {
	[ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ] &&
		[ -x /usr/lib/dovecot/pop3 ] && [ -x /usr/lib/dovecot/lmtp ] && return 1
	return 0
}
if need_dovecot; then
	command -v apt-get >/dev/null || die "Dovecot is missing and there is no apt-get"
	log "installing dovecot-imapd dovecot-pop3d dovecot-lmtpd"
	# policy-rc.d or no init: the Debian service is not started; if it were,
	# it listens on the standard ports, which this script does not use.
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd dovecot-pop3d dovecot-lmtpd >/dev/null; then
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd dovecot-pop3d dovecot-lmtpd >/dev/null
	fi
	need_dovecot && die "Dovecot still missing after apt-get"
fi
for u in dovecot dovenull; do
	if ! getent passwd "$u" >/dev/null; then
		log "creating system user $u"
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$u"
	fi
done
# Mail is owned by an unprivileged user: Dovecot refuses mail access as root.
MAIL_UID=$(id -u nobody) MAIL_GID=$(id -g nobody)

# Room for RSS_CONNS connections and their processes (Dovecot: one imap
# process per connection); Go programs raise their own soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- temporary directory and cleanup --------------------------------------
T=$(mktemp -d /tmp/storaged-bench.XXXXXX)
chmod 755 "$T" # login processes (dovenull) and mail (nobody) must reach below it
STORAGED_PID=
cleanup() {
	local rc=$?
	set +e
	if [ -n "$STORAGED_PID" ]; then
		kill -TERM "$STORAGED_PID" 2>/dev/null && wait "$STORAGED_PID" 2>/dev/null
	fi
	for mode in $FSYNC_MODES; do
		[ -f "$T/dovecot-$mode/dovecot.conf" ] || continue
		pidf=$T/dovecot-$mode/run/master.pid
		if [ -f "$pidf" ]; then
			pid=$(cat "$pidf")
			/usr/sbin/dovecot -c "$T/dovecot-$mode/dovecot.conf" stop 2>/dev/null
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		fi
	done
	if [ "${KEEP:-}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- binaries -------------------------------------------------------------
log "building storaged and storaged-bench"
if [ -n "$STORAGED_BIN" ]; then
	mkdir -p "$T/bin" && cp "$STORAGED_BIN" "$T/bin/storaged"
else
	$GO build -o "$T/bin/storaged" ./cmd/storaged
fi
$GO build -o "$T/bin/storaged-bench" ./cmd/storaged-bench
SB=$T/bin/storaged-bench

# --- users: the same on every server --------------------------------------
max_users=1
for u in $LMTP_USERS; do [ "$u" -gt "$max_users" ] && max_users=$u; done
USERS="one big pop idle"
for i in $(seq 1 "$max_users"); do USERS="$USERS $(printf 'rr%03d' "$i")"; done
rcpts() { # rcpts N: the first N round-robin recipients, comma-separated
	if [ "$1" = 1 ]; then echo "one@$DOMAIN"; return; fi
	local out="" i
	for i in $(seq 1 "$1"); do out="$out${out:+,}$(printf 'rr%03d' "$i")@$DOMAIN"; done
	echo "$out"
}

# --- ports ----------------------------------------------------------------
nmodes=$(echo $FSYNC_MODES | wc -w)
mapfile -t PORTS < <("$SB" ports $((4 * (nmodes + 1))))
declare -A LMTP IMAP POP3 IMAPS
pi=0
for srv in storaged $(for m in $FSYNC_MODES; do echo "dovecot-$m"; done); do
	LMTP[$srv]=127.0.0.1:${PORTS[$pi]}
	IMAP[$srv]=127.0.0.1:${PORTS[$((pi + 1))]}
	POP3[$srv]=127.0.0.1:${PORTS[$((pi + 2))]}
	IMAPS[$srv]=127.0.0.1:${PORTS[$((pi + 3))]}
	pi=$((pi + 4))
done

# --- one certificate for every server -----------------------------------------
# ECDSA P-256, as a new installation would make it; world-readable under
# $T so that Dovecot's processes read it whatever user they run as (the
# key is a throwaway).
CERT=$T/tls/cert.pem KEY=$T/tls/key.pem
"$T/bin/storaged" cert selfsigned -cert "$CERT" -key "$KEY" -type ecdsa localhost 127.0.0.1 >/dev/null
chmod 755 "$T/tls" && chmod 644 "$CERT" "$KEY"

# --- storaged ---------------------------------------------------------------
S=$T/storaged
mkdir -p "$S"
cat >"$S/storaged.toml" <<EOF
data_dir = "$S/data"
hostname = "bench.localhost"
local_domains = ["$DOMAIN"]
[log]
level = "warn"
[lmtp]
listen = ["${LMTP[storaged]}"]
[tls]
cert = "$CERT"
key = "$KEY"
[imap]
listen = ["${IMAP[storaged]}"]
listen_tls = ["${IMAPS[storaged]}"]
# As Dovecot's mail_max_userip_connections below: the IDLE and memory
# scenarios hold many connections of one user from one address.
max_connections_per_user_address = $((RSS_CONNS + IDLE_CONNS + 10))
[pop3]
listen = ["${POP3[storaged]}"]
EOF
log "storaged: adding $(echo $USERS | wc -w) users"
for u in $USERS; do
	echo "$PASSWORD" | "$T/bin/storaged" -config "$S/storaged.toml" user add "$u" -password-stdin >/dev/null
done
# The same password scheme as Dovecot's passwd file below ({PLAIN}): a
# login in a timed scenario (POP3's USER/PASS) must not cost storaged an
# argon2id verification that Dovecot does not do. login-rss compares the
# hashes on purpose, with the same one on both servers.
awk -F: -v OFS=: -v users=" $USERS " -v pw="{PLAIN}$PASSWORD" 'index(users, " " $1 " ") { $2 = pw } 1' "$S/data/users" >"$S/data/users.new"
cat "$S/data/users.new" >"$S/data/users" && rm "$S/data/users.new" # keeps the file's mode
# login-rss's users: one argon2id hash made by storaged, copied to every
# login user of both servers (the salt is in the hash, so it verifies
# under any name), a set of LOGIN_CONNS per run.
LOGIN_HASH=
if has login-rss; then
	echo "$PASSWORD" | "$T/bin/storaged" -config "$S/storaged.toml" user add login -password-stdin >/dev/null
	LOGIN_HASH=$(awk -F: '$1 == "login" {print $2}' "$S/data/users")
	case $LOGIN_HASH in "{ARGON2ID}"*) ;; *) die "login-rss: storaged wrote no argon2id hash for login ($LOGIN_HASH)" ;; esac
	for i in $(seq 1 $((RUNS * LOGIN_CONNS))); do echo "login$i:$LOGIN_HASH::::::"; done >>"$S/data/users"
fi
"$T/bin/storaged" -config "$S/storaged.toml" serve >"$S/storaged.log" 2>&1 &
STORAGED_PID=$!

# --- Dovecot, one instance per mail_fsync mode ------------------------------
for mode in $FSYNC_MODES; do
	D=$T/dovecot-$mode
	srv=dovecot-$mode
	mkdir -p "$D/run" "$D/home"
	chown "$MAIL_UID:$MAIL_GID" "$D/home"
	: >"$D/passwd"
	for u in $USERS; do echo "$u:{PLAIN}$PASSWORD::::::" >>"$D/passwd"; done
	if [ -n "$LOGIN_HASH" ]; then
		for i in $(seq 1 $((RUNS * LOGIN_CONNS))); do echo "login$i:$LOGIN_HASH::::::"; done >>"$D/passwd"
	fi
	cat >"$D/dovecot.conf" <<EOF
# Dovecot for bench/peer.sh: loopback only, everything under $D.
instance_name = bench-$mode
base_dir = $D/run
state_dir = $D/state
log_path = $D/dovecot.log
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <$CERT
ssl_key = <$KEY
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = $MAIL_UID
mail_location = maildir:~/Maildir
mail_fsync = $mode
postmaster_address = postmaster@$DOMAIN
# Many connections from one user and address (the IDLE and memory
# scenarios): the defaults allow 10 per user and IP and 100 processes.
mail_max_userip_connections = $((RSS_CONNS + IDLE_CONNS + 10))
default_process_limit = $((RSS_CONNS + IDLE_CONNS + 100))
default_client_limit = $((4 * (RSS_CONNS + IDLE_CONNS) + 1000))
passdb {
  driver = passwd-file
  args = scheme=PLAIN $D/passwd
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$D/home/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${IMAP[$srv]#127.0.0.1:}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${IMAPS[$srv]#127.0.0.1:}
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${POP3[$srv]#127.0.0.1:}
  }
  inet_listener pop3s {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${LMTP[$srv]#127.0.0.1:}
  }
}
EOF
	mkdir -p "$D/state"
	/usr/sbin/dovecot -c "$D/dovecot.conf" || die "dovecot ($mode) did not start; see $D/dovecot.log"
done

SERVERS="storaged $(for m in $FSYNC_MODES; do echo "dovecot-$m"; done)"
READ_SERVERS="storaged $(for m in $READ_MODES; do echo "dovecot-$m"; done)"
for srv in $SERVERS; do
	"$SB" wait -timeout 30s "${LMTP[$srv]}" "${IMAP[$srv]}" "${POP3[$srv]}" "${IMAPS[$srv]}" ||
		die "$srv is not listening (logs under $T)"
done
log "listening: $(for s in $SERVERS; do printf '%s lmtp=%s imap=%s pop3=%s imaps=%s; ' "$s" "${LMTP[$s]}" "${IMAP[$s]}" "${POP3[$s]}" "${IMAPS[$s]}"; done)"

OUT=$T/results.jsonl
FILL=$T/fill.jsonl
: >"$OUT"
: >"$FILL"

# bench SERVER RUN SCENARIO ARGS...: one measurement, appended to $OUT.
bench() {
	local srv=$1 run=$2 sc=$3
	shift 3
	"$SB" run -server "$srv" -run "$run" -scenario "$sc" \
		-lmtp "${LMTP[$srv]}" -imap "${IMAP[$srv]}" -pop3 "${POP3[$srv]}" \
		-imaps "${IMAPS[$srv]}" -cafile "$CERT" -servername localhost \
		-password "$PASSWORD" "$@"
}
# order RUN SERVER...: the servers, reversed on even runs.
order() {
	local run=$1
	shift
	if [ $((run % 2)) = 1 ]; then echo "$@"; else echo "$@" | tr ' ' '\n' | tac | tr '\n' ' '; fi
}

pids_of() { # pids_of SERVER: the server's top process
	case $1 in
	storaged) echo "$STORAGED_PID" ;;
	dovecot-*) cat "$T/$1/run/master.pid" ;;
	esac
}

# --- memory of large deliveries at once: first, on servers that did nothing yet --
# VmHWM is each process's peak since it started, so this runs once per
# server, before any other load could set the mark.
if has lmtp-big; then
	for srv in $SERVERS; do
		log "$srv: $BIG_CONNS LMTP deliveries of $BIG_SIZE octets at once, peak RSS"
		bench "$srv" 1 lmtp-big -to "one@$DOMAIN" -size "$BIG_SIZE" -conns "$BIG_CONNS" -seed big -pids "$(pids_of "$srv")" >>"$OUT"
	done
fi

# --- fill the read mailboxes, identically on each server --------------------
if has imap-meta || has imap-body || has imap-search || has imap-sort || has pop3-retr || has imaps-body; then
	for srv in $READ_SERVERS; do
		log "$srv: filling big with $IMAP_N ($FILL_MODE) and pop with $POP3_N messages of $MSG_SIZE octets"
		if [ "$FILL_MODE" = maildir ]; then
			case $srv in
			storaged) "$SB" maildir -dir "$S/data/mail/big" -n "$IMAP_N" -size "$MSG_SIZE" -seed fill -to "big@$DOMAIN" ;;
			dovecot-*) "$SB" maildir -dir "$T/$srv/home/big/Maildir" -n "$IMAP_N" -size "$MSG_SIZE" -seed fill -to "big@$DOMAIN" \
				-uid "$MAIL_UID" -gid "$MAIL_GID" && chown "$MAIL_UID:$MAIL_GID" "$T/$srv/home/big" ;;
			esac
		else
			bench "$srv" 0 lmtp -to "big@$DOMAIN" -n "$IMAP_N" -size "$MSG_SIZE" -conns 4 -seed fill -name "fill: LMTP $IMAP_N × $MSG_SIZE octets, 4 conn, 1 user" >>"$FILL"
		fi
		bench "$srv" 0 lmtp -to "pop@$DOMAIN" -n "$POP3_N" -size "$MSG_SIZE" -conns 4 -seed fill -name "fill: LMTP $POP3_N × $MSG_SIZE octets, 4 conn, 1 user" >>"$FILL"
	done
fi

# --- the disk's ceiling, on the servers' file system ------------------------------
# Files created, written and fsynced per second (and renamed into a second
# directory fsynced after, as a Maildir delivery), 1-, 4- and 20-way: what
# no server on this disk can acknowledge faster. Between the servers' runs.
DISK=$T/disk.jsonl
: >"$DISK"
if has disk; then
	for run in $(seq 1 "$RUNS"); do
		log "run $run: disk ceiling"
		"$SB" disk -dir "$T" -n "$LMTP_N" -size "${LMTP_SIZES%% *}" -conns 1,4,20 -run "$run" >>"$DISK"
	done
fi

# --- LMTP: every server, every mode -------------------------------------------
first=0
if has lmtp; then
	# Every recipient's mailbox is made before the timed runs, by one
	# untimed message each, on every server: a user's first delivery
	# creates the store and its index (on Dovecot too), which is not the
	# delivery rate being measured, and would fall into one run of three.
	everyone="one@$DOMAIN"
	[ "$max_users" -gt 1 ] && everyone="$everyone,$(rcpts "$max_users")"
	for srv in $SERVERS; do
		log "warm-up: $srv LMTP, one message to each of $((max_users + 1)) recipients"
		bench "$srv" 0 lmtp -to "$everyone" -n $((max_users + 1)) -size 4096 -conns 1 -first 900000000 -seed warmup >/dev/null
	done
	for size in $LMTP_SIZES; do
		for conns in $LMTP_CONNS; do
			for users in $LMTP_USERS; do
				to=$(rcpts "$users")
				for run in $(seq 1 "$RUNS"); do
					for srv in $(order "$run" $SERVERS); do
						log "run $run: $srv LMTP $size octets, $conns conn, $users users"
						bench "$srv" "$run" lmtp -to "$to" -n "$LMTP_N" -size "$size" -conns "$conns" -first "$first" >>"$OUT"
					done
					first=$((first + LMTP_N))
				done
			done
		done
	done
fi

# --- reads: one warm-up (not reported), then RUNS runs --------------------------
read_args() { # read_args SCENARIO
	case $1 in
	pop3-retr) echo "-user pop -expect $POP3_N" ;;
	*) echo "-user big -expect $IMAP_N" ;;
	esac
}
for sc in imap-meta imap-body imap-search imap-sort pop3-retr imaps-body; do
	has "$sc" || continue
	for srv in $READ_SERVERS; do
		log "warm-up: $srv $sc"
		# shellcheck disable=SC2046
		bench "$srv" 0 "$sc" $(read_args "$sc") >/dev/null
	done
	for run in $(seq 1 "$RUNS"); do
		for srv in $(order "$run" $READ_SERVERS); do
			log "run $run: $srv $sc"
			# shellcheck disable=SC2046
			bench "$srv" "$run" "$sc" $(read_args "$sc") >>"$OUT"
		done
	done
done

# --- IDLE latency and memory with idle connections -----------------------------
if has imap-idle; then
	for run in $(seq 1 "$RUNS"); do
		for srv in $(order "$run" $READ_SERVERS); do
			log "run $run: $srv IDLE latency, $IDLE_CONNS connections, $IDLE_ROUNDS messages"
			bench "$srv" "$run" imap-idle -user idle -to "idle@$DOMAIN" -conns "$IDLE_CONNS" -rounds "$IDLE_ROUNDS" >>"$OUT"
		done
	done
fi
if has rss; then
	for run in $(seq 1 "$RUNS"); do
		for srv in $(order "$run" $READ_SERVERS); do
			log "run $run: $srv memory with $RSS_CONNS idle IMAP connections"
			bench "$srv" "$run" imap-idle -user idle -conns "$RSS_CONNS" -rounds 0 -pids "$(pids_of "$srv")" >>"$OUT"
		done
	done
fi

# --- TLS handshakes: a short warm-up (Dovecot forks its login processes), then RUNS runs --
if has tls-handshake; then
	for srv in $READ_SERVERS; do
		log "warm-up: $srv tls-handshake"
		bench "$srv" 0 tls-handshake -n 50 -conns "$TLS_CONNS" >/dev/null
	done
	for run in $(seq 1 "$RUNS"); do
		for srv in $(order "$run" $READ_SERVERS); do
			log "run $run: $srv $TLS_N TLS handshakes, sequential and $TLS_CONNS at once"
			bench "$srv" "$run" tls-handshake -n "$TLS_N" -conns "$TLS_CONNS" >>"$OUT"
		done
	done
fi

# --- parallel logins: last, since they grow every server's memory -------------
if has login-rss; then
	for run in $(seq 1 "$RUNS"); do
		for srv in $(order "$run" $READ_SERVERS); do
			log "run $run: $srv RSS during $LOGIN_CONNS parallel LOGINs"
			bench "$srv" "$run" login-rss -user login -distinct -first $(((run - 1) * LOGIN_CONNS + 1)) \
				-conns "$LOGIN_CONNS" -pids "$(pids_of "$srv")" >>"$OUT"
		done
	done
fi

# --- the table ----------------------------------------------------------------
servers_csv=$(echo $SERVERS | tr ' ' ',')
TABLE=$("$SB" report -servers "$servers_csv" -base storaged "$OUT")
DISKTABLE=
if [ -s "$DISK" ]; then DISKTABLE=$("$SB" report -servers disk -base disk "$DISK" | sed 's/disk median/median/'); fi
FILLTABLE=
if [ -s "$FILL" ]; then FILLTABLE=$("$SB" report -servers "$servers_csv" -base storaged "$FILL"); fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo " + uncommitted changes" || true)
fs=$(df -T "$T" | awk 'NR==2 {print $2 " on " $1}')
{
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(nproc) CPUs, $cpu, Linux $(uname -r), $T on $fs."
	echo "storaged $rev$dirty ($($GO version | awk '{print $3}')); Dovecot $(/usr/sbin/dovecot --version) from Debian, Maildir, no quota, no Sieve, no FTS."
	echo "Client: cmd/storaged-bench. $RUNS runs per scenario and server, servers in turn (order flipped every run);"
	echo "reads after one untimed warm-up. LMTP: $LMTP_N messages per run, MAIL/RCPT/DATA pipelined, after one untimed message to every recipient (its mailbox made)."
	echo "Ratio: how many times better storaged is (>1: storaged faster or smaller), from the medians."
	echo "Memory: RSS summed over all the server's processes (children included), connections logged in, INBOX selected, in IDLE."
	echo "Dovecot limits raised for the many-connection scenarios: mail_max_userip_connections, default_process_limit, default_client_limit."
	if has tls-handshake || has imaps-body || has login-rss; then
		echo "TLS: one ECDSA P-256 certificate for both servers; the client asks for TLS 1.3 and X25519 only, without resumption (every handshake a full one), and verifies the certificate. Dovecot's login service at its default (high-security mode: service_count = 1, a new imap-login process per connection, which also holds the connection's TLS)."
		echo "Logins: users with the same argon2id hash (m=64 MiB, t=3) on both servers, a new set each run, each connection from its own 127.1.x.y; peak RSS sampled every 20 ms over the server's processes."
	fi
	[ "$FILL_MODE" = maildir ] && echo "The IMAP mailbox's $IMAP_N messages were written into each server's Maildir as files (FILL_MODE=maildir), then indexed by each server in the warm-up."
	[ -n "$BENCH_NOTE" ] && { echo; echo "**$BENCH_NOTE**"; }
	echo
	echo "$TABLE"
	if [ -n "$DISKTABLE" ]; then
		echo
		echo "The disk's ceiling in the same run, on the servers' file system (storaged-bench disk: $RUNS runs):"
		echo
		echo "$DISKTABLE"
	fi
	if [ -n "$FILLTABLE" ]; then
		echo
		echo "<details><summary>Fills (one run each, 4 connections, not part of the comparison)</summary>"
		echo
		echo "$FILLTABLE"
		echo
		echo "</details>"
	fi
	echo
} >"$T/section.md"
prepend_results "$RESULTS" "# storaged vs Dovecot: \`make bench-peer\`

Newest run first. Figures from one machine and one run compare the two servers; across runs or machines they do not." "$T/section.md"
cp "$OUT" "${RESULTS%.md}.jsonl"
echo
cat "$T/section.md"
log "wrote $RESULTS and ${RESULTS%.md}.jsonl"
