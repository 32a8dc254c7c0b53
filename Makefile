# upshift — see README.md. Every target works on a fresh machine with Go:
# missing binaries of the local fleet are built from the official Go modules.

GO          ?= go
UPSHIFT     := bin/upshift
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Helm for the chart's checks; internal/hub's chart test runs the same one.
HELM        := helm.sh/helm/v4/cmd/helm@v4.3.2
TEST_FLAGS  ?= -timeout 75m
BENCH       ?= .

.PHONY: all build image deps bench-deps tools test lint chart demo demo-down bench fuzz generate docs clean

all: build

build:
	$(GO) build -ldflags "-X upshift.dev/upshift/internal/cli.commit=$$(git rev-parse --short HEAD 2>/dev/null)" -o $(UPSHIFT) ./cmd/upshift
	$(GO) build -o bin/upshift-scan ./cmd/upshift-scan

# upshift's OCI image, built without a container runtime (internal/image):
# a static binary per platform, CA certificates, the non-root user 65532,
# OCI labels. Written as an OCI layout to bin/image/oci; pushed to
# $(REGISTRY)/upshift:$(VERSION) when REGISTRY is set (credentials of
# `docker login`). VERSION is the chart's appVersion, so the chart's
# default image is this one.
VERSION   ?= $(shell sed -n 's/^appVersion: *"*\([^"]*\)"*$$/\1/p' charts/upshift/Chart.yaml)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
PLATFORMS ?= linux/amd64 linux/arm64
REGISTRY  ?=
image:
	@rm -rf bin/image && mkdir -p bin/image
	@set -e; bins=; for p in $(PLATFORMS); do \
		out=bin/image/upshift-$$(echo $$p | tr / -); echo "building $$out"; \
		CGO_ENABLED=0 GOOS=$${p%%/*} GOARCH=$${p##*/} $(GO) build -trimpath \
			-ldflags "-s -w -X upshift.dev/upshift/internal/cli.version=$(VERSION) -X upshift.dev/upshift/internal/cli.commit=$(COMMIT)" \
			-o $$out ./cmd/upshift; \
		bins="$$bins --binary $$p=$$out"; done; \
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
	$(GO) run ./cmd/upshift-image --version $(VERSION) --commit "$(COMMIT)" $$bins \
		--oci-layout bin/image/oci $(if $(REGISTRY),--push $(REGISTRY)/upshift:$(VERSION))

# The local fleet's binaries (Kubernetes control planes of each minor, etcd,
# kwok), built once into the cache ($UPSHIFT_CACHE, default ~/.cache/upshift).
tools: build
	$(UPSHIFT) local tools --build

# Debian packages the tests run for real: BIND 9 for the DNS traffic
# provider (RFC 2136 + TSIG), Prometheus for the analysis gates, Chromium
# for the compliance report's HTML, HAProxy as the gateway's oracle.
# Installed once, as root, from Debian.
deps:
	@command -v named >/dev/null 2>&1 || test -x /usr/sbin/named || { \
		echo "installing BIND 9 (Debian bind9) for the DNS provider's tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bind9 >/dev/null; }
	@command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || { \
		echo "installing Prometheus (Debian prometheus) for the analysis gates' tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Chromium (Debian chromium) for the compliance report's page test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
	@command -v haproxy >/dev/null 2>&1 || { \
		echo "installing HAProxy (Debian haproxy): the gateway's differential test checks it answer by answer against HAProxy"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null; }

test: deps tools chart
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" && exit 1)

# The hub's Helm chart (charts/upshift): linted strictly and rendered with
# every option on; the chart test in internal/hub installs it for real.
chart:
	$(GO) run $(HELM) lint --strict charts/upshift
	$(GO) run $(HELM) lint --strict charts/upshift --set serviceMonitor.enabled=true,prometheusRule.enabled=true,dashboard.enabled=true,dashboard.tlsSecret=upshift-dashboard-tls
	$(GO) run $(HELM) lint --strict charts/upshift --set dashboard.enabled=true,dashboard.auth=token,azureWorkloadIdentity.clientID=00000000-0000-0000-0000-000000000001
	$(GO) run $(HELM) template upshift charts/upshift --namespace upshift-system \
		--set serviceMonitor.enabled=true,prometheusRule.enabled=true,dashboard.enabled=true >/dev/null

# The main job on the embedded default: a local cluster with a sample app.
demo: tools
	$(UPSHIFT) demo

demo-down: build
	$(UPSHIFT) demo --down

# What the benchmarks compare against: HAProxy (BenchmarkGatewayVsHAProxy)
# and the wrk load generator, from Debian. Installed once, as root.
bench-deps:
	@command -v haproxy >/dev/null 2>&1 && command -v wrk >/dev/null 2>&1 && test -x /usr/bin/time || { \
		echo "installing HAProxy and wrk (Debian) for the gateway benchmark, time for the scan's"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy wrk time >/dev/null; }

bench: tools bench-deps
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 1x -timeout 60m ./bench/

# Every parser of user files, fuzzed FUZZTIME each; a crasher is kept in
# the package's testdata/fuzz and then runs in every `make test`.
FUZZTIME ?= 20s
FUZZ_TARGETS := ./internal/plan:FuzzParseAndValidate ./internal/scan/manifest:FuzzRead ./internal/scan/manifest:FuzzSkim \
	./internal/fleet:FuzzParse ./internal/fleet:FuzzSetName ./internal/frontdoor:FuzzParseConfig ./internal/frontdoor:FuzzGatewayRequest \
	./internal/frontdoor:FuzzStateFile ./internal/methods/bluegreen:FuzzBlueGreenConfig
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzzing $$fn in $$pkg for $(FUZZTIME)"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) || exit 1; done

# DeepCopy methods and CRDs of the API types; the chart carries copies of
# the CRDs and of the alert rules (a test checks they match).
# The CLI reference in docs/cli, from the commands themselves; a test
# fails when it is stale.
docs:
	UPSHIFT_UPDATE_DOCS=1 $(GO) test ./internal/cli -run '^TestCLIReference$$' -count=1

generate:
	$(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 object crd paths=./api/... output:crd:dir=internal/crds/bases
	rm -f charts/upshift/crds/*.yaml && cp internal/crds/bases/*.yaml charts/upshift/crds/
	cp deploy/prometheus/upshift-rules.yaml charts/upshift/files/upshift-rules.yaml

clean:
	rm -rf bin
