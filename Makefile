# pacsd: the two commands a new machine needs are `make run` and `make test`.
GO        ?= go
GOFLAGS   ?=
TESTFLAGS ?= -race -count=1 -timeout 20m
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run build build-deps test test-fresh deps minio ohif vet lint bench bench-scale bench-cluster fuzz testdata clean

# Installs the build's own needs (C compiler, pkg-config, OpenJPEG and CharLS -dev packages)
# when missing, then runs pacsd: the README's run command on a fresh Debian machine.
run: build-deps
	$(GO) run ./cmd/pacsd $(ARGS)

build: build-deps
	$(GO) build -o bin/pacsd ./cmd/pacsd

build-deps:
	./scripts/build-deps.sh

deps:
	./scripts/deps.sh
	@$(MAKE) --no-print-directory ohif

minio:
	./scripts/minio.sh

# OHIF v3's built app, served by pacsd at /ohif/ (package ohif): only the dist/ folder of the
# npm package @ohif/app (npm pack, no dependency tree), checked against the pinned integrity,
# unpacked into .cache/ohif/<version>/dist. Skipped when already there.
OHIF_VERSION   := $(shell sed -n 's/^const Version = "\(.*\)"$$/\1/p' ohif/version.go)
# the registry's dist.integrity of that tarball (sha512-WZdxmpmG...B9E8EA==), in hex
OHIF_SHA512    := 5997719a9986eeba85816f5924b71b82bdd70ad2e2d4a0cd3e831a798e4f3deea3e06e1f8c48e393271933a0ba664d85f3b04ac457e9abe8dde715d907d13c10
OHIF_DIR       := .cache/ohif/$(OHIF_VERSION)
ohif:
	@set -eu; \
	if [ -f $(OHIF_DIR)/dist/index.html ]; then echo "ohif: $(OHIF_DIR)/dist present"; exit 0; fi; \
	tmp=$(OHIF_DIR).tmp; rm -rf $$tmp; mkdir -p $$tmp; \
	echo "ohif: fetching @ohif/app@$(OHIF_VERSION)"; \
	(cd $$tmp && npm pack --silent --loglevel=error @ohif/app@$(OHIF_VERSION) >/dev/null); \
	got=$$(sha512sum $$tmp/ohif-app-$(OHIF_VERSION).tgz | cut -d' ' -f1); \
	if [ "$$got" != "$(OHIF_SHA512)" ]; then echo "ohif: sha512 mismatch: $$got" >&2; exit 1; fi; \
	tar -xzf $$tmp/ohif-app-$(OHIF_VERSION).tgz -C $$tmp package/dist package/package.json package/LICENSE; \
	test -f $$tmp/package/dist/index.html; \
	rm -rf $(OHIF_DIR); mv $$tmp/package $(OHIF_DIR); rm -rf $$tmp; \
	echo "ohif: installed $(OHIF_DIR)/dist"

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff

lint: vet
	$(GO) run $(STATICCHECK) ./...

# Installs DCMTK & co. when missing, then runs every test (unit, DCMTK peers, SIGKILL), and
# the README's run command on a fresh Debian root (test-fresh).
test: deps lint test-fresh
	$(GO) test $(TESTFLAGS) ./...

# `make run` on a freshly debootstrapped Debian with only Go and a C compiler: it must install
# its own build dependencies and serve (scripts/fresh-machine-test.sh; about 4 minutes).
test-fresh:
	./scripts/fresh-machine-test.sh

# Ingest benchmark (storescp vs pacsd on a folder vs pacsd on S3, peak RSS), the DICOMweb and
# C-FIND benchmark against Orthanc (QIDO and C-FIND at 10k studies, name searches), the C-MOVE
# benchmark (pacsd vs storescu vs Orthanc), forwarding (pacsd's queue to storescp vs storescu), then the Go micro-benchmarks (among them
# store/sqlite's BenchmarkNameSearch, name searches at 10k and 100k studies).
bench: deps
	$(GO) run ./tools/bench -large $${LARGE:-30} -small $${SMALL:-6000}
	$(GO) run ./tools/benchweb
	$(GO) run ./tools/benchretrieve
	$(GO) run ./tools/benchretrieve -mode forward
	$(GO) test -run '^$$' -bench . -benchmem ./dicom/... ./store/... ./dicomweb/... ./thumbnail/... ./viewer/... ./audit/... ./qr/...

# Issue 20's scale benchmark: 100,000 studies (~1,000,000 instances) loaded into SQLite and
# PostgreSQL, then QIDO, C-FIND, the worklist, start-up and RSS of the real pacsd on each.
# Hours of loading on two cores: -keep resumes a stopped load (STUDIES=5000 for a short run).
bench-scale: deps
	$(GO) run ./tools/benchscale -keep -studies $${STUDIES:-100000}

# Issue 20's scale-out benchmark: small objects over ASSOCS associations into one pacsd node in
# cluster mode (durable PostgreSQL + MinIO, write-through), into two nodes (associations
# alternating), and into one embedded node (SQLite): objects/s, two/one, CPU per object of
# each process, RSS per node, and whether the machine's cores capped the ratio.
bench-cluster: deps
	$(GO) run ./tools/bench -cluster -small $${SMALL:-2000} -assocs $${ASSOCS:-8}

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
