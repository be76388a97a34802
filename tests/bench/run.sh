#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/run.sh — rill side by side with Spark Structured Streaming,
# kcat and librdkafka alone (rill-rawread) on one real Kafka broker, on this
# machine, in one run: throughput, latency at fixed rates, per-batch
# overhead, memory, partition-count scale. Writes report.md and PNG plots to
# a results directory. Not part of CI; installs what it needs.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
runs=3
sizes="1000000 10000000"
rates="10000 100000 500000"
intervals="100ms 10ms"
latency_seconds=10
spark=1
publish=0
out=""
parts="throughput latency overhead scale state"
state_keys=10000000
state_memory=64MB
state_cap_mb=512
scale_partitions="8 64 256 1024"

usage() {
	cat <<EOF
Usage: tests/bench/run.sh [--runs N] [--quick] [--sizes "N..."] [--no-spark] [--only PARTS]
                          [--partitions "N..."] [--state-keys N] [--out DIR] [--publish]

  --runs N     repetitions of every measurement (default 3; figures show
               min / median / max)
  --quick      1M records only, rates 10k and 100k, 5 s of load, 1M state keys
  --sizes N... records of the throughput runs (default "1000000 10000000");
               --only throughput --no-spark --sizes 1000000 is the quick
               rill-against-kcat-and-rawread check
  --no-spark   leave out the Spark Structured Streaming peer
  --only PARTS run only these of "throughput latency overhead scale state" (into
               --out, whose other results are kept for the report)
  --partitions N...  partition counts of the scale part (default "8 64 256 1024");
               each gets two topics of the same 1M lines: "sticky" (kcat -P,
               librdkafka's sticky partitioner: few large batches, skewed at
               many partitions) and "spread" (a random partition per record:
               even, small batches; ~50 s to produce at 1,024 partitions)
  --state-keys N  distinct keys of the state part (default 10000000): an
               update_state_by_key sum over N keys (N/10 of them twice) with
               state_memory $state_memory, the job's processes in a memory
               cgroup of $state_cap_mb MB where one can be made (cgroup v1 or
               v2, as root); its last batch checked against awk
  --out DIR    results directory (default build-bench/results/DATE)
  --publish    also copy the report and plots to docs/performance/

Peers: kcat -C -e (reads and prints every record, one client) and
rill-rawread (tests/bench/rawread.c: librdkafka alone, a consumer per
partition up to 64 threads, every payload byte summed, nothing printed),
both on the same topics, in the same runs.
EOF
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--runs) runs=$2; shift ;;
	--quick) sizes="1000000"; rates="10000 100000"; latency_seconds=5; state_keys=1000000 ;;
	--sizes) sizes=$2; shift ;;
	--no-spark) spark=0 ;;
	--only) parts=$2; shift ;;
	--partitions) scale_partitions=$2; shift ;;
	--state-keys) state_keys=$2; shift ;;
	--out) out=$2; shift ;;
	--publish) publish=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[[ -n $out ]] || out=$top/build-bench/results/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out"
out=$(cd "$out" && pwd)
say() { printf '\n== %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

say "dependencies"
"$top/deploy/deps.sh"
if ! command -v gnuplot >/dev/null; then
	SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
	$SUDO apt-get install -y -qq gnuplot-nox >/dev/null
fi
"$top/deploy/kafka.sh" install >/dev/null

say "build (release)"
build=$top/build-bench
[[ -f $build/build.ninja ]] || meson setup "$build" --buildtype=release -Dtests=true >&2
ninja -C "$build" >&2
rill=$build/driver/rill
loadgen=$build/tests/bench/rill-loadgen
rawread=$build/tests/bench/rill-rawread

say "broker"
kdir=$out/kafka
boot=$("$top/deploy/kafka.sh" start --dir "$kdir" 2>/dev/null)
cleanup() { "$top/deploy/kafka.sh" stop --dir "$kdir" >/dev/null 2>&1 || true; rm -rf "$kdir/data"; }
trap cleanup EXIT
topic_create() { "$top/deploy/kafka.sh" create-topic --dir "$kdir" "$1" "$2" >/dev/null 2>&1; }

# ---- the machine ----
{
	echo "- CPU: $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), $(nproc) cores"
	echo "- memory: $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); kernel $(uname -r)"
	echo "- disk: $(df -h "$out" | awk 'NR == 2 { print $1 " (" $2 ")" }')"
	echo "- Kafka $(basename "$(ls -d "${RILL_CACHE:-$HOME/.cache/rill}"/kafka-* | head -1)" | sed 's/kafka-//') (KRaft, one broker, on the same machine); kcat $(kcat -V 2>&1 | sed -n "s/^Version \([^ ]*\).*/\1/p"); rill $("$rill" --version | awk '{ print $2 }') (meson release build)"
} > "$out/machine.md"

# ---- data: 100-byte lines of Zipf-like words, 8 partitions ----
make_lines() {
	awk -v n="$1" 'BEGIN { srand(1); for (i = 0; i < n; i++) { line = "";
		while (length(line) < 88) { r = rand(); line = line (line == "" ? "" : " ") "word" int(1 / (r * r + 0.0001)) }
		print line } }'
}
wants() { [[ " $parts " == *" $1 "* ]]; }
# corpus_sums FILE: "records bytes checksum" of a corpus as rill-rawread
# reports them: a record a line, its bytes without the newline, the sum of
# their values.
corpus_sums() {
	python3 -c 'import sys
lines = size = total = 0
with open(sys.argv[1], "rb") as f:
    for b in iter(lambda: f.read(1 << 24), b""):
        n = b.count(b"\n"); lines += n; size += len(b) - n; total += sum(b) - 10 * n
print(lines, size, total)' "$1"
}
# rawread_run TOPIC RECORDS BYTES CHECKSUM LOG: rill-rawread reads TOPIC,
# checked against the corpus's sums; prints its wall seconds (process start
# to exit, as for kcat and rill) and keeps its output line in LOG.
rawread_run() {
	local t0 t1 res
	t0=$(now)
	res=$("$rawread" --brokers "$boot" --topic "$1")
	t1=$(now)
	echo "$res" > "$5"
	[[ $res == "records=$2 bytes=$3 "*" checksum=$4 "* ]] ||
		{ echo "rill-rawread on $1: '$res', want records=$2 bytes=$3 checksum=$4" >&2; exit 1; }
	elapsed "$t0" "$t1"
}

if wants throughput; then
say "data"
for n in $sizes; do
	topic=bench-$n
	topic_create "$topic" 8
	make_lines "$n" > "$out/corpus-$n.txt"
	awk -v dir="$out" -v n="$n" '{ print > (dir "/part-" n "-" (NR % 8)) }' "$out/corpus-$n.txt"
	for p in 0 1 2 3 4 5 6 7; do
		kcat -P -b "$boot" -t "$topic" -p "$p" -l "$out/part-$n-$p"
		rm -f "$out/part-$n-$p"
	done
	echo "$n lines, $(wc -c < "$out/corpus-$n.txt") bytes on $topic" >&2
done

# ---- throughput ----
fi
wordcount_job() { # topic sinkdir
	cat <<EOF
name: bench
batch: 1s
source:
  kafka:
    brokers: $boot
    topics: [$1]
pipeline:
  - flat_map: words
  - map_values: one
  - reduce_by_key: sum
sink:
  files: {path: $2}
EOF
}
# udf_wordcount_job TOPIC SINKDIR: the same word count through the example
# artifact's user functions (examples/udf/wordcount.c: words, one, add),
# each doing what its built-in does: the difference is the calls through
# rill.h.
udf_wordcount_job() {
	wordcount_job "$1" "$2" | sed 's/flat_map: words/flat_map: {udf: words}/;
		s/map_values: one/map_values: {udf: one}/; s/reduce_by_key: sum/reduce_by_key: {udf: add}/'
}
udf_lib=$build/examples/udf/libwordcount_udf.so
totals() { find "$1" -path '*/batch-*/part-*' -type f -exec cat {} + | awk -F'\t' '{ c[$1] += $2 } END { for (k in c) print k "\t" c[k] }' | LC_ALL=C sort; }
if wants throughput; then
# rill_row TOOL LOG: a throughput row of a rill run (n, r, s set) with the
# driver's and the larger executor's peak RSS from its log.
rill_row() {
	local drv exe
	drv=$(grep -o 'msg="job stopped".*peak_rss_kb=[0-9]*' "$2" | grep -o '[0-9]*$')
	exe=$(grep -o 'msg="executor stopped" peak_rss_kb=[0-9]*' "$2" | grep -o '[0-9]*$' | sort -n | tail -1)
	printf '%s\t%s\t%s\t%s\t%.0f\t%.1f\t%.1f\n' "$n" "$r" "$1" "$s" "$(awk -v n="$n" -v s="$s" 'BEGIN { print n / s }')" \
		"$(awk -v k="$drv" 'BEGIN { print k / 1024 }')" "$(awk -v k="$exe" 'BEGIN { print k / 1024 }')" >> "$out/throughput.tsv"
}

say "throughput"
printf 'size\trun\ttool\tseconds\trecords_per_s\tdriver_rss_mb\texecutor_rss_mb\n' > "$out/throughput.tsv"
for n in $sizes; do
	topic=bench-$n
	tr -s ' ' '\n' < "$out/corpus-$n.txt" | grep -v '^$' | LC_ALL=C sort | uniq -c |
		awk '{ print $2 "\t" $1 }' | LC_ALL=C sort > "$out/want-$n.tsv"
	read -r _ want_bytes want_sum < <(corpus_sums "$out/corpus-$n.txt")
	mkdir -p "$out/logs"
	for ((r = 1; r <= runs; r++)); do
		t0=$(now)
		got=$(kcat -C -b "$boot" -t "$topic" -o beginning -e -q | wc -l)
		t1=$(now)
		[[ $got -eq $n ]] || { echo "kcat read $got of $n" >&2; exit 1; }
		s=$(elapsed "$t0" "$t1")
		printf '%s\t%s\tkcat\t%s\t%.0f\t\t\n' "$n" "$r" "$s" "$(awk -v n="$n" -v s="$s" 'BEGIN { print n / s }')" >> "$out/throughput.tsv"

		s=$(rawread_run "$topic" "$n" "$want_bytes" "$want_sum" "$out/logs/rawread-$n-$r.txt")
		printf '%s\t%s\trawread\t%s\t%.0f\t\t\n' "$n" "$r" "$s" "$(awk -v n="$n" -v s="$s" 'BEGIN { print n / s }')" >> "$out/throughput.tsv"

		rm -rf "$out/rill-out"
		wordcount_job "$topic" "$out/rill-out" > "$out/job.yaml"
		t0=$(now)
		RILL_LOG_LEVEL=info "$rill" run "$out/job.yaml" --executors 2 --available-now 2> "$out/rill-$n-$r.log"
		t1=$(now)
		s=$(elapsed "$t0" "$t1")
		totals "$out/rill-out" > "$out/got.tsv"
		cmp -s "$out/got.tsv" "$out/want-$n.tsv" || { echo "rill's counts differ from the reference ($n, run $r)" >&2; exit 1; }
		rill_row rill "$out/rill-$n-$r.log"

		# The same job through user functions (rill.h): within 10% of it.
		rm -rf "$out/rill-out"
		udf_wordcount_job "$topic" "$out/rill-out" > "$out/job-udf.yaml"
		t0=$(now)
		RILL_LOG_LEVEL=info "$rill" run "$out/job-udf.yaml" --artifact "$udf_lib" --executors 2 \
			--available-now 2> "$out/rill-udf-$n-$r.log"
		t1=$(now)
		s=$(elapsed "$t0" "$t1")
		totals "$out/rill-out" > "$out/got.tsv"
		cmp -s "$out/got.tsv" "$out/want-$n.tsv" || { echo "rill's counts through user functions differ from the reference ($n, run $r)" >&2; exit 1; }
		rill_row rill-udf "$out/rill-udf-$n-$r.log"

		if ((spark)); then
			rm -rf "$out/spark-out"
			res=$("$top/tests/bench/spark/run.sh" --brokers "$boot" --topic "$topic" --out "$out/spark-out" \
				--check "$out/corpus-$n.txt" 2> "$out/spark-$n-$r.log")
			s=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<< "$res" | head -1)
			rss=$(sed -n 's/.*rss_mb=\([0-9.]*\).*/\1/p' <<< "$res" | head -1)
			printf '%s\t%s\tspark\t%s\t%.0f\t%s\t\n' "$n" "$r" "$s" "$(awk -v n="$n" -v s="$s" 'BEGIN { print n / s }')" "$rss" >> "$out/throughput.tsv"
		fi
		tail -n +2 "$out/throughput.tsv" | awk -F'\t' -v n="$n" -v r="$r" '$1 == n && $2 == r' >&2
	done
	rm -f "$out/corpus-$n.txt" "$out/want-$n.tsv"
done
rm -rf "$out/rill-out" "$out/spark-out" "$out/got.tsv"
fi

# ---- latency at fixed input rates ----
# Every run's files sink gets a directory of its own under $out/sink, removed
# only at the end: on ext4, creating files right after many were deleted is
# slow (the allocator skips inodes freed in the last minutes, reading each),
# and the runs would measure the harness's cleanup rather than rill.
if wants latency; then
say "latency"
topic_create lat 8
mkdir -p "$out/logs"
# lat_run INTERVAL RATE SECONDS NAME: one job under load; prints the
# generator's and the job's summary lines. The job's log is kept in
# $out/logs/NAME.log (per-batch lines, to look into an outlier).
lat_run() {
	cat > "$out/lat.yaml" <<EOF
name: latency
batch: $1
source:
  kafka:
    brokers: $boot
    topics: [lat]
    starting_offsets: latest
    backpressure: false
pipeline:
  - flat_map: words
  - map_values: one
  - reduce_by_key: sum
sink:
  files: {path: $out/sink/$4}
EOF
	RILL_LOG_LEVEL=info "$rill" run "$out/lat.yaml" --for "$(($3 + 5))s" 2> "$out/logs/$4.log" &
	local job=$!
	sleep 2
	"$loadgen" --brokers "$boot" --topic lat --rate "$2" --seconds "$3"
	wait "$job"
	grep 'msg="job stopped"' "$out/logs/$4.log"
}
# Not measured: a fresh broker's JVM is still compiling its hot paths.
lat_run 100ms 100000 5 warmup > /dev/null
printf 'interval\trate\trun\tachieved\tp50_ms\tp99_ms\tmax_ms\n' > "$out/latency.tsv"
for iv in $intervals; do
	for rate in $rates; do
		for ((r = 1; r <= runs; r++)); do
			res=$(lat_run "$iv" "$rate" "$latency_seconds" "lat-$iv-$rate-$r")
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$iv" "$rate" "$r" \
				"$(sed -n 's/^loadgen .* rate=\([0-9]*\).*/\1/p' <<< "$res")" \
				"$(sed -n 's/.*latency_p50_ms=\([0-9]*\).*/\1/p' <<< "$res")" \
				"$(sed -n 's/.*latency_p99_ms=\([0-9]*\).*/\1/p' <<< "$res")" \
				"$(sed -n 's/.*latency_max_ms=\([0-9]*\).*/\1/p' <<< "$res")" | tee -a "$out/latency.tsv" >&2
		done
	done
done
rm -f "$out/lat.yaml" "$out/logs/warmup.log"
fi

# ---- per-batch overhead at 10 ms ----
if wants overhead; then
say "per-batch overhead"
topic_create tiny 8
mkdir -p "$out/logs"
printf 'kind\trun\tbatches\tp50_ms\tp99_ms\tmax_ms\n' > "$out/overhead.tsv"
for ((r = 1; r <= runs; r++)); do
	cat > "$out/tiny.yaml" <<EOF
name: overhead
batch: 10ms
source:
  kafka:
    brokers: $boot
    topics: [tiny]
    starting_offsets: latest
    backpressure: false
pipeline:
  - flat_map: words
  - map_values: one
  - reduce_by_key: sum
sink:
  files: {path: $out/sink/tiny-$r}
EOF
	# 5 s with no input (empty batches), then 5 s at 50 records/s (tiny ones).
	RILL_LOG_LEVEL=info "$rill" run "$out/tiny.yaml" --for 12s 2> "$out/logs/tiny-$r.log" &
	job=$!
	sleep 6
	"$loadgen" --brokers "$boot" --topic tiny --rate 50 --seconds 5 >/dev/null
	wait "$job"
	for kind in empty tiny; do
		grep 'msg="batch done"' "$out/logs/tiny-$r.log" |
			awk -v kind="$kind" '(kind == "empty") == /tasks=0 /' |
			sed -n 's/.*processing_ms=\([0-9.]*\).*/\1/p' | sort -n |
			awk -v kind="$kind" -v r="$r" '{ a[NR] = $1 } END {
				p99 = int(NR * 0.99) + 1; if (p99 > NR) p99 = NR
				printf "%s\t%s\t%d\t%.3f\t%.3f\t%.3f\n", kind, r, NR, a[int(NR * 0.5) + 1], a[p99], a[NR] }'
	done | tee -a "$out/overhead.tsv" >&2
done
rm -f "$out/tiny.yaml"
fi

# ---- scale: the same word count on 8 to 1,024 partitions ----
# Wall time of a 1M-line --available-now run on 2 executors, each executor's
# peak RSS (its own "executor stopped" line) and peak thread count (sampled
# from /proc every 50 ms), then per-batch processing time with 100 ms batches
# at a trickle (200 records/s). Counts are checked against the reference.
# Every partition count gets two topics of the same lines, two layouts:
#   sticky: kcat -P as is, librdkafka's sticky partitioner for records
#           without a key: a partition takes the records of a whole
#           linger, in batches of up to 1 MB / 10k records; at many
#           partitions most get a few records and some most of them;
#   spread: kcat -P with sticky.partitioning.linger.ms=0, a random
#           partition per record: even partitions, small batches (~10 KB
#           at 1,024 partitions), as keyed producers or Java's 16 KB
#           batches write them.
# Every run reads both layouts with rill, kcat -C -e and rill-rawread. The
# trickle does not depend on the layout (its own topic, fed by
# rill-loadgen): it runs once per partition count and run, on the spread
# row; the sticky row leaves it empty.
if wants scale; then
say "scale"
n=1000000
layouts="sticky spread"
make_lines "$n" > "$out/corpus-scale.txt"
tr -s ' ' '\n' < "$out/corpus-scale.txt" | grep -v '^$' | LC_ALL=C sort | uniq -c |
	awk '{ print $2 "\t" $1 }' | LC_ALL=C sort > "$out/want-scale.tsv"
read -r _ want_bytes want_sum < <(corpus_sums "$out/corpus-scale.txt")
mkdir -p "$out/logs"
# peak_threads PID: prints the highest thread count of any rill-executor
# child of PID, sampled until PID ends.
peak_threads() {
	local max=0 t pid
	while kill -0 "$1" 2>/dev/null; do
		for pid in $(pgrep -P "$1" -f rill-executor); do
			t=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
			((t > max)) && max=$t
		done
		sleep 0.05
	done
	echo "$max"
}
# layout_stats TOPIC PARTITIONS RECORDS: how the topic lies in the broker's
# log files (record batch headers, Kafka's v2 format): records per partition
# min / median / max, record batches, records and KB per batch median / max.
layout_stats() {
	python3 - "$kdir/data" "$1" "$2" "$3" <<'EOF'
import glob, struct, sys
data, topic, parts, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
per_part, batch_records, batch_bytes = [], [], []
for p in range(parts):
    records = 0
    for path in sorted(glob.glob(f"{data}/{topic}-{p}/*.log")):
        with open(path, "rb") as f:
            buf = f.read()
        pos = 0
        while pos + 61 <= len(buf):
            (length,) = struct.unpack_from(">i", buf, pos + 8)
            (count,) = struct.unpack_from(">i", buf, pos + 57)
            if length <= 0 or buf[pos + 16] != 2:
                sys.exit(f"{path}: no v2 record batch at byte {pos}")
            records += count
            batch_records.append(count)
            batch_bytes.append(12 + length)
            pos += 12 + length
    per_part.append(records)
if sum(per_part) != want:
    sys.exit(f"{topic}: {sum(per_part)} records in the log files, want {want}")
med = lambda a: sorted(a)[len(a) // 2]
print(min(per_part), med(per_part), max(per_part), len(batch_records), med(batch_records),
      max(batch_records), "%.1f" % (med(batch_bytes) / 1024), "%.1f" % (max(batch_bytes) / 1024), sep="\t")
EOF
}
printf 'partitions\tlayout\tproduce_seconds\tpart_records_min\tpart_records_median\tpart_records_max\tbatches\tbatch_records_median\tbatch_records_max\tbatch_kb_median\tbatch_kb_max\n' > "$out/layout.tsv"
printf 'partitions\tlayout\trun\tseconds\texecutor_rss_mb\texecutor_threads\ttrickle_p50_ms\ttrickle_p99_ms\tkcat_seconds\trawread_seconds\n' > "$out/scale.tsv"
for np in $scale_partitions; do
	for layout in $layouts; do
		topic=scale-$np-$layout
		topic_create "$topic" "$np"
		spread=(); [[ $layout == spread ]] && spread=(-X sticky.partitioning.linger.ms=0)
		t0=$(now)
		kcat -P -b "$boot" -t "$topic" "${spread[@]}" -l "$out/corpus-scale.txt"
		t1=$(now)
		stats=$(layout_stats "$topic" "$np" "$n")
		printf '%s\t%s\t%s\t%s\n' "$np" "$layout" "$(elapsed "$t0" "$t1")" "$stats" | tee -a "$out/layout.tsv" >&2
	done
	topic_create "trickle-$np" "$np"
	for ((r = 1; r <= runs; r++)); do
		for layout in $layouts; do
			topic=scale-$np-$layout
			rm -rf "$out/rill-out"
			wordcount_job "$topic" "$out/rill-out" > "$out/job.yaml"
			t0=$(now)
			RILL_LOG_LEVEL=info "$rill" run "$out/job.yaml" --executors 2 --available-now 2> "$out/scale-$np-$layout-$r.log" &
			job=$!
			threads=$(peak_threads "$job")
			wait "$job" || { echo "the $np-partition $layout run failed: $out/scale-$np-$layout-$r.log" >&2; exit 1; }
			t1=$(now)
			s=$(elapsed "$t0" "$t1")
			totals "$out/rill-out" > "$out/got.tsv"
			cmp -s "$out/got.tsv" "$out/want-scale.tsv" || { echo "rill's counts differ from the reference ($np partitions, $layout, run $r)" >&2; exit 1; }
			exe=$(grep -o 'msg="executor stopped" peak_rss_kb=[0-9]*' "$out/scale-$np-$layout-$r.log" | grep -o '[0-9]*$' | sort -n | tail -1)
			# The Kafka client's own limit on this topic: kcat reading
			# (and printing) it all, and librdkafka alone (rill-rawread).
			t0=$(now)
			got=$(kcat -C -b "$boot" -t "$topic" -o beginning -e -q | wc -l)
			t1=$(now)
			[[ $got -eq $n ]] || { echo "kcat read $got of $n on $topic" >&2; exit 1; }
			ks=$(elapsed "$t0" "$t1")
			rs=$(rawread_run "$topic" "$n" "$want_bytes" "$want_sum" "$out/logs/rawread-$np-$layout-$r.txt")

			pct=$'\t'
			if [[ $layout == spread ]]; then
				cat > "$out/trickle.yaml" <<EOF
name: trickle
batch: 100ms
source:
  kafka:
    brokers: $boot
    topics: [trickle-$np]
    starting_offsets: latest
    backpressure: false
pipeline:
  - flat_map: words
  - map_values: one
  - reduce_by_key: sum
sink:
  files: {path: $out/sink/trickle-$np-$r}
EOF
				RILL_LOG_LEVEL=info "$rill" run "$out/trickle.yaml" --executors 2 --for 14s 2> "$out/trickle-$np-$r.log" &
				job=$!
				sleep 3
				"$loadgen" --brokers "$boot" --topic "trickle-$np" --rate 200 --seconds 10 >/dev/null
				wait "$job"
				pct=$(grep 'msg="batch done"' "$out/trickle-$np-$r.log" | grep -v ' tasks=0 ' |
					sed -n 's/.*processing_ms=\([0-9.]*\).*/\1/p' | sort -n |
					awk '{ a[NR] = $1 } END { p99 = int(NR * 0.99) + 1; if (p99 > NR) p99 = NR
						printf "%.2f\t%.2f", a[int(NR * 0.5) + 1], a[p99] }')
			fi
			printf '%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\n' "$np" "$layout" "$r" "$s" "$(awk -v k="$exe" 'BEGIN { print k / 1024 }')" \
				"$threads" "$pct" "$ks" "$rs" | tee -a "$out/scale.tsv" >&2
		done
	done
done
rm -f "$out/corpus-scale.txt" "$out/want-scale.tsv" "$out/trickle.yaml" "$out/got.tsv"
rm -rf "$out/rill-out"
fi

# ---- state: update_state_by_key over many distinct keys, memory capped ----
# cgroup_dir: a fresh memory cgroup under this shell's own (v2: memory.max,
# v1: memory.limit_in_bytes), or nothing if none can be made here.
cgroup_dir() {
	local self dir=""
	if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
		self=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
		dir=/sys/fs/cgroup$self/rill-bench-$$
		mkdir "$dir" 2>/dev/null && echo "$((state_cap_mb << 20))" > "$dir/memory.max" 2>/dev/null &&
			{ echo "$dir"; return; }
	else
		self=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
		dir=/sys/fs/cgroup/memory$self/rill-bench-$$
		mkdir "$dir" 2>/dev/null && echo "$((state_cap_mb << 20))" > "$dir/memory.limit_in_bytes" 2>/dev/null &&
			{ echo "$dir"; return; }
	fi
	[[ -d $dir ]] && rmdir "$dir" 2>/dev/null
	true
}
if wants state; then
say "state"
topic_create state-keys 8
awk -v n="$state_keys" 'BEGIN { for (i = 0; i < n; i++) print "k" i; for (i = 0; i < n; i += 10) print "k" i }' \
	> "$out/corpus-state.txt"
kcat -P -b "$boot" -t state-keys -l "$out/corpus-state.txt"
awk '{ c[$1]++ } END { for (k in c) print k "\t" c[k] }' "$out/corpus-state.txt" | LC_ALL=C sort > "$out/want-state.tsv"
rm -f "$out/corpus-state.txt"
printf 'keys\trun\tseconds\texecutor_rss_mb\tcgroup_peak_mb\tcap_mb\tbatches\tspilled\tresult\n' > "$out/state.tsv"
for ((r = 1; r <= runs; r++)); do
	rm -rf "$out/state-out" "$out/state-ck"
	cat > "$out/state.yaml" <<EOF
name: state-bench
batch: 5s
source:
  kafka:
    brokers: $boot
    topics: [state-keys]
pipeline:
  - map_values: one
  - update_state_by_key: sum
sink:
  files: {path: $out/state-out}
shuffle_partitions: 8
state_memory: $state_memory
EOF
	cg=$(cgroup_dir)
	t0=$(now)
	# The job in the cgroup: past the cap the kernel kills an executor (the
	# job then fails: no executor left), which the row says.
	result=exact
	sh -c '[ -z "$1" ] || echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg" \
		env RILL_LOG_LEVEL=info "$rill" run "$out/state.yaml" --checkpoint-dir "$out/state-ck" \
		--executors 2 --available-now 2> "$out/state-$r.log" ||
		result="failed: $(grep -o 'rill: job .*' "$out/state-$r.log" | tail -1)"
	t1=$(now)
	peak=""
	if [[ -n $cg ]]; then
		for f in memory.peak memory.max_usage_in_bytes; do
			[[ -r $cg/$f ]] && peak=$(awk '{ printf "%.1f", $1 / 1048576 }' "$cg/$f") && break
		done
		rmdir "$cg" 2>/dev/null || true
	fi
	if [[ $result == exact ]]; then
		last=$(ls -d "$out"/state-out/batch-* | tail -1)
		cat "$last"/part-* | LC_ALL=C sort > "$out/got.tsv"
		cmp -s "$out/got.tsv" "$out/want-state.tsv" ||
			{ echo "the state job's last batch differs from the reference (run $r)" >&2; exit 1; }
	fi
	exe=$(grep -o 'msg="executor stopped" peak_rss_kb=[0-9]*' "$out/state-$r.log" | grep -o '[0-9]*$' | sort -n | tail -1)
	printf '%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\n' "$state_keys" "$r" "$(elapsed "$t0" "$t1")" \
		"$(awk -v k="$exe" 'BEGIN { print k / 1024 }')" "$peak" "$([[ -n $cg ]] && echo "$state_cap_mb")" \
		"$(grep -c 'msg="batch done"' "$out/state-$r.log")" "$(grep -c 'msg="state spilled"' "$out/state-$r.log")" "$result" |
		tee -a "$out/state.tsv" >&2
	rm -rf "$out/state-out" "$out/state-ck"
done
rm -f "$out/want-state.tsv" "$out/got.tsv" "$out/state.yaml"
fi

rm -rf "$out/sink"

# ---- the report ----
say "report"
"$top/tests/bench/report.sh" "$out"
if ((publish)); then
	mkdir -p "$top/docs/performance"
	cp "$out"/*.png "$out/report.md" "$out"/*.tsv "$top/docs/performance/"
	echo "published to docs/performance/" >&2
fi
echo "$out/report.md"
