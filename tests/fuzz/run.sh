#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan + UBSan) and run each for FUZZ_SECONDS
# (default 20). Crashes are saved under build-fuzz/crashes/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang >/dev/null || { echo "fuzz: clang is needed (apt-get install clang)"; exit 1; }
seconds=${FUZZ_SECONDS:-20}
out=build-fuzz
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
make -s BUILD=$out CC=clang OPT="-O1 -g -fsanitize=fuzzer-no-link $san" $out/libkeymgmt.a
mkdir -p $out/crashes
libs="$(pkg-config --libs libpq jansson libcurl openssl) -lfcgi -lm"
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer $san -Iinclude \
        $(pkg-config --cflags libpq jansson) -o "$out/$name" "$src" $out/libkeymgmt.a $libs
    mkdir -p "$out/corpus/$name"
    if [ -d "tests/fuzz/seeds/$name" ]; then cp tests/fuzz/seeds/"$name"/* "$out/corpus/$name/"; fi
    dict=()
    if [ -f "tests/fuzz/$name.dict" ]; then dict=(-dict="tests/fuzz/$name.dict"); fi
    echo "== $name (${seconds}s)"
    "$out/$name" -max_total_time="$seconds" -max_len=4096 -artifact_prefix="$out/crashes/$name-" \
        "${dict[@]}" "$out/corpus/$name" 2>&1 | grep -E "^(#[0-9]+.*DONE|Done|==.*ERROR|SUMMARY)" || true
    if ls "$out/crashes/$name-"* >/dev/null 2>&1; then
        echo "fuzz: $name found a crash: $(ls "$out/crashes/$name-"*)"
        exit 1
    fi
done
echo "fuzz: no crash"
