#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine: installs PostgreSQL (and Chromium, for
# the console's browser test) when missing,
# then checks formatting, vets, and runs every test against real PostgreSQL.
# Extra arguments go to "go test" (e.g. scripts/test.sh -run TestSetup -v).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

have_postgres() {
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null
}

# apt_install installs Debian packages, as root or with sudo, or explains what to install.
apt_install() {
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		if ! command -v sudo >/dev/null; then
			log "$* not installed and this is not root without sudo: install the Debian package(s) $*, then rerun"
			exit 1
		fi
		sudo=(sudo)
	fi
	if ! command -v apt-get >/dev/null; then
		log "$* not installed and apt-get is missing: install them by other means, then rerun"
		exit 1
	fi
	log "installing $* with apt-get"
	"${sudo[@]}" apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

if ! command -v go >/dev/null; then
	log "go is not on PATH: install Go (see go.mod for the version), then rerun"
	exit 1
fi
if ! have_postgres; then
	apt_install postgresql
fi
# promtool checks dashboards/alerts.yml (cmd/walhook/alerts_test.go). Debian ships it in
# the prometheus package, which also installs a Prometheus service (started only where
# systemd runs).
if ! command -v promtool >/dev/null; then
	apt_install prometheus
fi
# docker-compose 1.29 (Compose v1) checks that docker-compose.yml also parses for users of
# Debian's docker-compose package (cmd/walhook/compose_ops_test.go); it needs no engine.
if ! command -v docker-compose >/dev/null; then
	apt_install docker-compose
fi

# The README's quick start uses curl and jq; cmd/walhook/quickstart_e2e_test.go runs it.
for tool in curl jq; do
	if ! command -v "$tool" >/dev/null; then
		apt_install "$tool"
	fi
done
# Node runs the OpenAPI linters and the generated TypeScript client's test
# (api/openapi_test.go, cmd/walhook/openapi_client_e2e_test.go) and the Node signature
# snippet (docs/verify). The tools are pinned in tools/openapi/package-lock.json and
# installed with npm ci when missing or older than the lock file.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	apt_install nodejs npm
fi
if (( $(node -p 'process.versions.node.split(".")[0]') < 20 )); then
	log "node $(node --version) is too old for tools/openapi (20.19 or newer): install a newer Node.js, then rerun"
	exit 1
fi
if [[ ! tools/openapi/node_modules/.package-lock.json -nt tools/openapi/package-lock.json ]]; then
	log "npm ci (tools/openapi)"
	(cd tools/openapi && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# The official Pipedrive client (cmd/walhook/pipedrive_e2e_test.go), pinned in
# tools/pipedrive/package-lock.json; the test also runs npm ci itself when it is missing.
if [[ ! tools/pipedrive/node_modules/.package-lock.json -nt tools/pipedrive/package-lock.json ]]; then
	log "npm ci (tools/pipedrive)"
	(cd tools/pipedrive && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# Debian's Chromium runs the console's browser test (cmd/walhook/console_e2e_test.go, driven
# by chromedp at /usr/bin/chromium, headless, without a sandbox).
if [[ ! -x /usr/bin/chromium ]]; then
	apt_install chromium
fi

log "go mod download"
go mod download

log "gofmt"
unformatted=$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l)
if [[ -n $unformatted ]]; then
	log "these files need gofmt -w:"
	printf '%s\n' "$unformatted" >&2
	exit 1
fi

log "go vet ./..."
go vet ./...

log "go test"
go test -count=1 -timeout 25m ./... "$@"
