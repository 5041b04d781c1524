# Shared set-up for the scripts in scripts/: sourced, never run.
#
# After sourcing, the current directory is the repository root and
#   qonduit_setup PRESET
# installs any missing Debian package, configures build/PRESET once (from
# CMakePresets.json) and builds it. A second run only builds, so it is fast.
#
# QONDUIT_SKIP_DEPS=1 skips the package check (other distributions, or a
# machine where you manage packages yourself).

QONDUIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$QONDUIT_ROOT"

# What building Qonduit, its tests and its benchmarks needs (Debian 12 names).
QONDUIT_PACKAGES=(
    cmake ninja-build g++ qt6-base-dev libssl-dev
    # g++'s ThreadSanitizer runtime, for tst_mailbox (g++ pulls it in today).
    libtsan2
    libzmq3-dev cppzmq-dev pkg-config
    # The QML module, its tests and qmllint, and what QML apps load at run
    # time (without qtqml qmllint cannot see Timer; without templates and
    # layouts, Controls and Layouts fail).
    qt6-declarative-dev qt6-declarative-dev-tools
    qml6-module-qtqml qml6-module-qtqml-models qml6-module-qtqml-workerscript
    qml6-module-qtquick qml6-module-qtquick-window qml6-module-qtquick-controls
    qml6-module-qtquick-templates qml6-module-qtquick-layouts qml6-module-qttest
)

qonduit_log() {
    printf '==> %s\n' "$*" >&2
}

qonduit_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Prints the packages of QONDUIT_PACKAGES that are not installed.
qonduit_missing_packages() {
    local package status
    for package in "${QONDUIT_PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
        if [[ "$status" != "install ok installed" ]]; then
            printf '%s\n' "$package"
        fi
    done
}

qonduit_install_dependencies() {
    if [[ "${QONDUIT_SKIP_DEPS:-0}" == 1 ]]; then
        return
    fi
    if ! command -v dpkg-query >/dev/null 2>&1; then
        qonduit_log "not a Debian system: skipping the package check" \
            "(needs ${QONDUIT_PACKAGES[*]} or their equivalents)"
        return
    fi

    local missing
    mapfile -t missing < <(qonduit_missing_packages)
    if (( ${#missing[@]} == 0 )); then
        return
    fi

    local -a sudo=()
    if (( EUID != 0 )); then
        command -v sudo >/dev/null 2>&1 \
            || qonduit_die "missing packages (${missing[*]}) and no sudo: install them as root"
        sudo=(sudo)
    fi
    qonduit_log "installing missing packages: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# Configure presets need CMake 3.25 (presets version 6, workflow presets).
qonduit_check_cmake() {
    local version
    version="$(cmake --version | sed -n '1s/^cmake version \([0-9]*\.[0-9]*\).*/\1/p')"
    local major="${version%%.*}" minor="${version#*.}"
    if [[ -z "$version" ]] || (( major < 3 || (major == 3 && minor < 25) )); then
        qonduit_die "CMake 3.25 or newer is needed, found '${version:-unknown}'"
    fi
}

qonduit_setup() {
    local preset="${1:?qonduit_setup needs a preset}"
    case "$preset" in
        release|debug|asan) ;;
        *) qonduit_die "unknown preset '$preset' (release, debug or asan)" ;;
    esac

    qonduit_install_dependencies
    qonduit_check_cmake

    # An interrupted first configure leaves a cache without build.ninja.
    if [[ ! -f "build/$preset/CMakeCache.txt" || ! -f "build/$preset/build.ninja" ]]; then
        qonduit_log "configuring build/$preset"
        cmake --preset "$preset"
    fi
    qonduit_log "building build/$preset"
    cmake --build --preset "$preset"
}
