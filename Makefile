# pacsd: the two commands a new machine needs are `make run` and `make test`.
GO        ?= go
GOFLAGS   ?=
TESTFLAGS ?= -race -count=1 -timeout 20m
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run build test deps minio vet lint bench fuzz testdata clean

run:
	$(GO) run ./cmd/pacsd

build:
	$(GO) build -o bin/pacsd ./cmd/pacsd

deps:
	./scripts/deps.sh

minio:
	./scripts/minio.sh

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

lint: vet
	$(GO) run $(STATICCHECK) ./...

# Installs DCMTK & co. when missing, then runs every test (unit, DCMTK peers, SIGKILL).
test: deps lint
	$(GO) test $(TESTFLAGS) ./...

# Ingest benchmark against DCMTK's storescp, plus the Go micro-benchmarks.
bench: deps
	$(GO) run ./tools/bench -large $${LARGE:-40} -small $${SMALL:-2000}
	$(GO) test -run '^$$' -bench . -benchmem ./dicom/... ./store/...

# A short run of every fuzz target (go test -fuzz takes one target at a time).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Regenerates testdata/ (Go generator + DCMTK/GDCM recipes); the results are committed.
testdata: deps
	$(GO) run ./tools/gentestdata -out testdata
	./testdata/make.sh

clean:
	rm -rf bin .cache
