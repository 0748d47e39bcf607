# storaged: build, run, test. `make run` and `make test` work on a fresh
# machine with Go; everything else they need they fetch themselves.

GO      ?= go
BIN     := bin/storaged
PKGS    := ./...
# Race-enabled tests take a while on 2 cores; the crash test starts real
# server processes.
TESTFLAGS ?= -race -count=1 -timeout 20m
BENCHTIME ?= 3s

.PHONY: build run test bench lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/storaged

run: build
	./$(BIN) serve

test: lint
	$(GO) test $(TESTFLAGS) $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./lmtp/ ./index/ ./message/ ./auth/

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
