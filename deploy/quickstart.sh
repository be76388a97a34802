#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deploy/quickstart.sh — the README's two commands, on a fresh machine:
#   demo   install what is missing, build, and run `rill demo`
#   test   install what is missing (packages, the Kafka broker's jars), build
#          three times (plain, with AddressSanitizer + UBSan, and with
#          ThreadSanitizer) and run every suite (under TSan: the unit suite)
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

usage() {
	cat <<EOF
Usage: deploy/quickstart.sh demo [DEMO-OPTIONS] | test | --help

  demo   build rill and run the word-count demo on the embedded Kafka cluster
         (options go to 'rill demo', e.g. --seconds 30)
  test   check the C sources' format (clang-format), build rill (also with
         sanitizers) and run the whole test suite against a real Apache Kafka
         broker installed from Maven Central

Builds go to build/, build-sanitize/ and build-tsan/. Set RILL_JOBS to limit
parallelism.
EOF
}

say() { printf '\n== %s\n' "$*" >&2; }

# build DIR [MESON-OPTIONS...]: configure DIR once, then compile.
build() {
	local dir=$1
	shift
	if [[ ! -f $dir/build.ninja ]]; then
		meson setup "$dir" "$@" >&2
	fi
	ninja -C "$dir" ${RILL_JOBS:+-j "$RILL_JOBS"} >&2
}

case ${1:-} in
demo)
	shift
	say "dependencies"
	deploy/deps.sh
	say "build"
	build build
	say "rill demo"
	exec build/driver/rill demo "$@"
	;;
test)
	shift
	start=$(date +%s)
	say "dependencies"
	deploy/deps.sh
	say "style: clang-format --dry-run --Werror (the root .clang-format)"
	find common driver executor tests $(ls -d include 2>/dev/null) -name '*.[ch]' -print0 |
		xargs -0 clang-format --dry-run --Werror
	say "Kafka broker (pinned, from Maven Central)"
	deploy/kafka.sh install >/dev/null
	say "build"
	build build
	say "tests"
	meson test -C build --print-errorlogs ${RILL_JOBS:+--num-processes "$RILL_JOBS"}
	say "build with AddressSanitizer + UBSan"
	build build-sanitize -Db_sanitize=address,undefined -Db_lundef=false
	say "tests under AddressSanitizer + UBSan"
	meson test -C build-sanitize --print-errorlogs ${RILL_JOBS:+--num-processes "$RILL_JOBS"}
	# Only the unit suite, less its tests of librdkafka's mock cluster:
	# librdkafka starts its threads with C11 thrd_create, which GCC 12's TSan
	# does not intercept, so every rill process that reads Kafka crashes under
	# it (see docs/testing.md).
	say "build with ThreadSanitizer"
	build build-tsan -Db_sanitize=thread -Db_lundef=false
	say "unit tests under ThreadSanitizer"
	meson test -C build-tsan --suite unit --no-suite rdkafka --print-errorlogs \
		${RILL_JOBS:+--num-processes "$RILL_JOBS"}
	say "all tests passed in $(($(date +%s) - start)) s"
	;;
-h | --help | help)
	usage
	;;
*)
	usage >&2
	exit 2
	;;
esac
