#!/usr/bin/env bash
# Install every Debian package keymgmt needs to build, run and test.
# Idempotent: only missing packages are installed (apt-get update runs only then).
# Usage: deploy/install-deps.sh [build|run|test|all]   (default: all)
set -euo pipefail

build=(gcc make pkg-config libc6-dev libfcgi-dev libjansson-dev libcurl4-openssl-dev
       libssl-dev libpq-dev libcmocka-dev)
run=(postgresql-15 nginx openssl ca-certificates curl procps util-linux)
test=(python3 python3-pytest python3-requests python3-hvac python3-botocore
      python3-cryptography awscli wrk valgrind)

case "${1:-all}" in
    build) want=("${build[@]}") ;;
    run)   want=("${build[@]}" "${run[@]}") ;;
    test|all) want=("${build[@]}" "${run[@]}" "${test[@]}") ;;
    *) echo "usage: $0 [build|run|test|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]} == 0)); then
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo=(sudo); else
        echo "install-deps: missing packages (${missing[*]}) and not root; install them as root" >&2
        exit 1
    fi
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
