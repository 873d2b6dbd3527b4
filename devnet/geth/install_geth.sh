#!/usr/bin/env bash
# Installs Geth v1.11.6, the last release that still mines ethash proof of work, into the
# project-local tools folder .tools/bin (gitignored). Idempotent: does nothing when
# that geth (or one on PATH) already reports 1.11.6. Builds from the Go module proxy, so it
# needs Go and a C compiler (geth's secp256k1 is cgo) but no other download.
#
# Exit codes: 0 installed or already there, 1 cannot install (the reason is printed).
set -uo pipefail

GETH_VERSION=1.11.6
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="$ROOT/.tools/bin"
GETH="$BIN_DIR/geth"

reports_wanted_version() {
    "$1" version 2>/dev/null | grep -q "^Version: $GETH_VERSION"
}

if [[ -x "$GETH" ]] && reports_wanted_version "$GETH"; then
    echo "geth $GETH_VERSION already installed: $GETH"
    exit 0
fi
if command -v geth >/dev/null && reports_wanted_version "$(command -v geth)"; then
    mkdir -p "$BIN_DIR" && ln -sf "$(command -v geth)" "$GETH"
    echo "geth $GETH_VERSION found on PATH, linked as $GETH"
    exit 0
fi

GO="$(command -v go || echo /usr/local/go/bin/go)"
if [[ ! -x "$GO" ]]; then
    echo "cannot install geth $GETH_VERSION: Go is not installed (needed to build it from source)" >&2
    exit 1
fi
if ! command -v "${CC:-gcc}" >/dev/null; then
    echo "cannot install geth $GETH_VERSION: no C compiler (${CC:-gcc}) for its cgo crypto" >&2
    exit 1
fi

# Go 1.23+ refuses the runtime internals that geth 1.11's memory-size debug helper links to by
# name (github.com/fjl/memsize); the linker flag lets it build. That helper is only reached
# through geth's debug console, never by a node that mines and serves JSON-RPC.
LDFLAGS=""
go_minor="$("$GO" env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
if [[ "$go_minor" =~ ^[0-9]+$ ]] && (( go_minor >= 23 )); then
    LDFLAGS="-checklinkname=0"
fi

mkdir -p "$BIN_DIR"
echo "building geth $GETH_VERSION with $("$GO" env GOVERSION) into $BIN_DIR (takes a few minutes)..."
started=$SECONDS
log="$(mktemp)"
if ! GOBIN="$BIN_DIR" GOFLAGS=-mod=mod CGO_ENABLED=1 \
        "$GO" install -ldflags="$LDFLAGS" "github.com/ethereum/go-ethereum/cmd/geth@v$GETH_VERSION" >"$log" 2>&1; then
    echo "cannot install geth $GETH_VERSION: the build failed; last lines of the Go output:" >&2
    tail -n 20 "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
if ! reports_wanted_version "$GETH"; then
    echo "cannot install geth $GETH_VERSION: the built binary does not run or reports another version" >&2
    "$GETH" version >&2 || true
    exit 1
fi
echo "geth $GETH_VERSION installed in $((SECONDS - started)) s: $GETH"
