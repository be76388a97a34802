#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/driver_sim.sh — the driver's own cost per batch on a simulated
# cluster (tests/bench/driver_sim.c): 1k, 10k and 100k splits on 10, 100 and
# 1,000 in-process stand-in executors of 4 cores, once with every split
# getting 10 records a batch and once with 1% of them (a moving window).
# CPU only, no broker, about a minute. Writes DIR/driver-sim.md, which
# tests/bench/report.sh puts into the benchmark report. Not part of CI.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=""
batches=20
splits="1k,10k,100k"
executors="10,100,1000"
build=$top/build-sim

usage() {
	cat <<USAGE
Usage: tests/bench/driver_sim.sh [--out DIR] [--batches N] [--splits LIST]
                                 [--executors LIST] [--build DIR]

  --out DIR         results directory (default build-bench/results/DATE)
  --batches N       batches measured per configuration, after 3 of warm-up
                    (default 20; the table gives medians)
  --splits LIST     default 1k,10k,100k
  --executors LIST  default 10,100,1000
  --build DIR       release build directory (default build-sim)
USAGE
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--out) out=$2; shift ;;
	--batches) batches=$2; shift ;;
	--splits) splits=$2; shift ;;
	--executors) executors=$2; shift ;;
	--build) build=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "driver_sim.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[[ -n $out ]] || out=$top/build-bench/results/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)

[[ -f $build/build.ninja ]] || meson setup "$build" --buildtype=release -Dtests=true >&2
ninja -C "$build" -j2 tests/bench/rill-driver-sim >&2
sim=$build/tests/bench/rill-driver-sim
ckp=$(mktemp -d "${TMPDIR:-/tmp}/driver-sim-XXXXXX")
trap 'rm -rf "$ckp"' EXIT

run() { # ACTIVE TITLE
	local cmd=("$sim" --splits "$splits" --executors "$executors" --batches "$batches"
		--active "$1" --records 10 --dir "$ckp")
	echo "### $2"
	echo
	echo "\`${cmd[*]/#$top\//}\`"
	echo
	"${cmd[@]}"
	echo
}

{
	echo "## Driver cost per batch (simulated cluster)"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r). A word count"
	echo "(\`flat_map\`, \`map_values\`, \`reduce_by_key\`) on a source of N synthetic splits;"
	echo "the executors are in-process stand-ins of 4 cores that answer every launch at once"
	echo "(a map task writes to min(width, its records) reduce partitions), the launch encoded"
	echo "and the answer decoded as over the network. Medians over $batches batches, in ms, of"
	echo "the driver's own time: *refresh* (the splits' latest positions), *plan* (ranges,"
	echo "width, map tasks), *stages* (reduce planning, placement, launches, answers; the"
	echo "stand-ins' own time is taken out and shown apart), *plan+schedule* (the three),"
	echo "*commit* (the sink's), *log write* (the planned and done records, fsync'd, in a"
	echo "directory), *advance* (positions, progress). *start*: recovery and the readers'"
	echo "warm-up (a launch per split) before the first batch. *ranges*: splits with records"
	echo "in the batch; *map tasks*: after small ranges share tasks; *width*: the shuffle's"
	echo "(by default the executors' slots, at most the splits)."
	echo
	run 1.0 "Every split gets 10 records a batch"
	run 0.01 "1% of the splits get 10 records a batch (a window moving by 1% a batch)"
} > "$out/driver-sim.md"
echo "driver-sim: $out/driver-sim.md" >&2
