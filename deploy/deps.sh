#!/usr/bin/env bash
# deploy/deps.sh — installs the Debian packages rill needs to build and test
# (compiler, libraries, ZooKeeper, a JRE and Maven for the real Kafka broker,
# kcat, iproute2 for network namespaces, systemd for `systemd-analyze verify`
# of deploy/systemd/). Does nothing when all are present;
# runs `apt-get update` only when something must be installed.
set -euo pipefail

# The one list of Debian packages the project needs. Extend it here.
PACKAGES=(
    build-essential
    meson
    ninja-build
    cmake
    pkg-config
    librdkafka-dev
    libprotobuf-c-dev
    protobuf-c-compiler
    libnng-dev
    libzookeeper-mt-dev
    zookeeper
    libcriterion-dev
    kcat
    libfyaml-dev
    libunistring-dev
    libxxhash-dev
    libisal-dev
    libjansson-dev
    libjsmn-dev
    librocksdb-dev
    python3
    libssl-dev
    iproute2
    openjdk-17-jre-headless
    maven
    clang
    clang-format
    libclang-rt-14-dev
    procps
    gdb                   # the tests' watchdog prints a hung run's threads
    systemd
)

usage() {
    cat <<EOF
Usage: deploy/deps.sh [--check] [--list] [--help]

Installs the Debian packages rill needs, if any are missing.
  --check   only report missing packages; exit 1 if any are missing
  --list    print the package list, one a line, and exit
  --help    show this help
EOF
}

check_only=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --check) check_only=1 ;;
        --list) printf '%s\n' "${PACKAGES[@]}"; exit 0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "deps.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps.sh: all ${#PACKAGES[@]} packages are installed" >&2
    exit 0
fi

echo "deps.sh: missing: ${missing[*]}" >&2
if [[ $check_only -eq 1 ]]; then
    exit 1
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "deps.sh: not root and no sudo; install the packages above by hand" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q >&2
"${SUDO[@]}" apt-get install -y -q "${missing[@]}" >&2
echo "deps.sh: installed: ${missing[*]}" >&2
