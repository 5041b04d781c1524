#!/bin/sh
# run-fuzzer.sh FUZZER CORPUS: a short, seeded libFuzzer run over the committed
# corpus, as a test. New inputs go to a scratch directory (listed first), so
# the committed corpus is never written to. Exit 77 (skipped) when FUZZER
# was not built: clang is installed but cannot link -fsanitize=fuzzer.
fuzzer=$1
corpus=$2
if [ ! -x "$fuzzer" ]; then
    echo "$fuzzer was not built: install libclang-rt-14-dev for libFuzzer"
    exit 77
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/new"
# libFuzzer reports a finding with exit code 77 unless told otherwise, which
# ctest would take for a skip.
"$fuzzer" -seed=1 -runs=20000 -timeout=10 -rss_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1 \
    -artifact_prefix="$scratch/" "$scratch/new" "$corpus"
