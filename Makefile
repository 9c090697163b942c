# hsmsim — see README.md. Every target works on a fresh Debian machine with Go installed;
# "make test" installs the Debian packages the tests need (it runs as root in CI).

GO      ?= go
BIN     := bin/hsmsim
MODULE  := build/libhsmsim-pkcs11.so
DATA    ?= .data
export PATH := $(PATH):/usr/local/go/bin:$(shell go env GOPATH 2>/dev/null)/bin

# Debian packages: p11-kit's pkcs11.h for the PKCS#11 module (cgo), the real PKCS#11
# consumers the module is tested against (pkcs11-tool from opensc, p11tool from gnutls-bin), the
# aws CLI the KMS face is tested with, SoftHSM v2, the module's peer in "make bench", ip
# (iproute2), with which a test puts three HSM processes in network namespaces of their own;
# podman, which builds the container image (its test runs the image's root filesystem under
# chroot), and chromium, the browser the web console is tested in (chromedp).
DEBS := libp11-kit-dev pkg-config gcc iproute2 opensc gnutls-bin awscli softhsm2 libengine-pkcs11-openssl python3-pykcs11 openjdk-17-jdk-headless podman chromium

# image: the container image (Containerfile), FROM scratch around a static hsmsim; built with
# podman, or docker when podman is missing. IMAGE_DIR is the build context.
IMAGE     ?= hsmsim:latest
IMAGE_DIR ?= build/image

.PHONY: all build run test bench lint proto deps fuzz clean image

all: build

deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(GO) mod download

build: deps
	$(GO) build -o $(BIN) ./cmd/hsmsim
	@if [ -d cmd/libhsmsim-pkcs11 ]; then $(GO) build -buildmode=c-shared -o $(MODULE) ./cmd/libhsmsim-pkcs11; fi

image:
	@tool=$$(command -v podman || command -v docker); \
	if [ -z "$$tool" ]; then echo "make image: neither podman nor docker is installed"; exit 1; fi; \
	mkdir -p $(IMAGE_DIR) && CGO_ENABLED=0 $(GO) build -ldflags '-s -w' -o $(IMAGE_DIR)/hsmsim ./cmd/hsmsim && \
	cp Containerfile $(IMAGE_DIR)/Containerfile && \
	$$tool build -f $(IMAGE_DIR)/Containerfile -t $(IMAGE) $(IMAGE_DIR)

# run: the embedded default, in $(DATA); state persists there across runs.
run: build
	./$(BIN) up --data-dir $(DATA)

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

# bench: side by side in one run (docs/BENCHMARKS.md): the node API against the Go standard
# library; one shared client against a 3-HSM cluster, unbatched and batched; the PKCS#11
# module (against "hsmsim up" in its own process) against SoftHSM v2, through miekg/pkcs11;
# key creations through the cluster and failover time; the KMS through aws-sdk-go-v2, and
# "hsmsim kms" against local-kms (built by the benchmark with "go install" at a pinned version
# from the Go module proxy, outside hsmsim's go.mod); the mechanism registry against the
# standard library; the token's cost as it grows (finds by label from the index against the scan,
# and BenchmarkTokenScale in ./cluster/: finds, creations/s, disk and heap per key at 0-16k keys);
# the audit log's cost per applied event (./hsmd/audit/).
bench: build
	HSMSIM_BENCH_BIN=$(CURDIR)/$(BIN) HSMSIM_BENCH_MODULE=$(CURDIR)/$(MODULE) \
		$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 30m ./bench/... ./cluster/ ./kms/ ./hsmd/mech/ ./hsmd/token/ ./hsmd/audit/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# proto: regenerate the committed gRPC/protobuf code (needs protoc, protoc-gen-go, protoc-gen-go-grpc).
proto:
	protoc --go_out=. --go_opt=module=github.com/hsmsim/hsmsim --go-grpc_out=. --go-grpc_opt=module=github.com/hsmsim/hsmsim \
		$$(git ls-files '*.proto')

# fuzz: a short run of every fuzz target (the seed corpora run in "make test").
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin build
