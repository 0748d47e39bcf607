# storaged: build, run, test. `make run` and `make test` work on a fresh
# machine with Go; everything else they need they fetch themselves.

GO      ?= go
BIN     := bin/storaged
PKGS    := ./...
# Race-enabled tests take a while on 2 cores; the crash test starts real
# server processes.
TESTFLAGS ?= -race -count=1 -timeout 20m
BENCHTIME ?= 3s

.PHONY: build run test test-deps bench bench-large lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/storaged

run: build
	./$(BIN) serve

# STORAGED_IMAPTEST=1: Dovecot's imaptest must build and pass (server/imaptest_test.go).
test: lint test-deps
	STORAGED_IMAPTEST=1 $(GO) test $(TESTFLAGS) $(PKGS)

# Interop tools the tests drive when present, as command:package pairs.
# Best effort: without apt-get or network the tests that need them skip
# and say so.
INTEROP ?= mbsync:isync fetchmail:fetchmail /usr/bin/mh/scan:nmh formail:procmail neomutt:neomutt mlist:mblaze postfix:postfix logrotate:logrotate offlineimap:offlineimap3 /usr/lib/dovecot/imap:dovecot-imapd /usr/lib/dovecot/pop3:dovecot-pop3d /usr/lib/dovecot/lmtp:dovecot-lmtpd
test-deps:
	@missing=""; for p in $(INTEROP); do command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; done; \
	  if [ -n "$$missing" ]; then \
	    if command -v apt-get >/dev/null 2>&1; then \
	      timeout 300 apt-get install -y -qq $$missing >/dev/null 2>&1 || { \
	        timeout 300 apt-get update -qq >/dev/null 2>&1; \
	        for pkg in $$missing; do timeout 300 apt-get install -y -qq $$pkg >/dev/null 2>&1 || \
	          echo "note: could not install $$pkg; the tests that drive it will skip"; done; }; \
	    else echo "note: no apt-get to install$$missing; the tests that drive them will skip"; fi; \
	  fi

lint:
	@out=$$(gofmt -l .); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./server/ ./message/ ./auth/ ./mbox/ ./mh/
	$(GO) test -run '^$$' -bench IdleConnections -benchtime 1x ./cmd/storaged/

# The 100,000-message mailbox: generates and indexes about 1 GB first.
bench-large:
	STORAGED_BENCH_LARGE=1 $(GO) test -run '^$$' -bench 'SelectFetch100k' -benchtime 5x -timeout 30m ./server/

# storaged and Dovecot side by side, same run, same client (installs Dovecot
# from Debian when missing; sizes from the environment: see bench/peer.sh).
# Writes bench/RESULTS.md.
.PHONY: bench-peer
bench-peer:
	GO=$(GO) bash bench/peer.sh

# storaged import (directly and through the server) and doveadm import of
# the same generated mbox and Maildir (COUNT=200000 messages; see
# bench/import.sh). Writes bench/IMPORT.md.
.PHONY: bench-import
bench-import:
	GO=$(GO) bash bench/import.sh

# Dovecot's imaptest against an in-process storaged, alone: 71 compliance
# groups, then 30s of stress (tools/imaptest; builds it first, with apt-get
# for its dependencies). make test runs it too.
.PHONY: imaptest
imaptest:
	STORAGED_IMAPTEST=1 $(GO) test -race -count=1 -run TestImaptest -timeout 30m ./server/

# A short run of every fuzz target (go test -fuzz takes one target at a time).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
