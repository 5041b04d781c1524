#!/bin/sh
# Runs a ThreadSanitizer test with address-space randomization off when the
# kernel lets us, else as it is.
#
# Why: the TSan runtimes of GCC 12 and Clang 14 map their shadow memory at
# fixed addresses and abort at start-up ("FATAL: ThreadSanitizer: unexpected
# memory mapping") when the kernel places a library inside it, which happens on
# kernels with high vm.mmap_rnd_bits (32, the default of recent Ubuntu/Fedora
# kernels; this machine has 28 and passes either way). Newer compiler-rt (LLVM
# 18) works around it by re-executing itself without ASLR; this script does the
# same for the runtimes we have, so CI passes unattended whatever the sysctl.
# Only the test process loses ASLR. Where personality(ADDR_NO_RANDOMIZE) is
# forbidden (a strict seccomp profile), setarch fails its probe and the test runs
# normally, which works wherever mmap_rnd_bits is at most 30.
arch=$(uname -m)
if command -v setarch >/dev/null 2>&1 && setarch "$arch" -R true >/dev/null 2>&1; then
    exec setarch "$arch" -R "$@"
fi
exec "$@"
