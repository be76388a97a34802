#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/wordcount.sh — rill's word count against the Kafka client's own
# read rate (kcat -C -e) on the same real broker and topic: records/s of both,
# the driver's and executors' peak RSS, and an exact check of the counts.
# Not part of CI. Usage: tests/bench/wordcount.sh [--records N] [--partitions P]
#                            [--runs R] [--build DIR]
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
records=1000000
partitions=4
runs=3
build=$top/build
while [[ $# -gt 0 ]]; do
	case $1 in
	--records) records=$2; shift ;;
	--partitions) partitions=$2; shift ;;
	--runs) runs=$2; shift ;;
	--build) build=$2; shift ;;
	-h | --help) sed -n '2,7p' "$0"; exit 0 ;;
	*) echo "wordcount.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

rill=$build/driver/rill
[[ -x $rill ]] || { echo "wordcount.sh: build rill first ($rill)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/rill-bench-XXXXXX")
kafka_dir=$work/kafka
cleanup() { "$top/deploy/kafka.sh" stop --dir "$kafka_dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT

now() { date +%s.%N; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r)"

boot=$("$top/deploy/kafka.sh" start --dir "$kafka_dir" 2>/dev/null)
"$top/deploy/kafka.sh" create-topic --dir "$kafka_dir" bench-words "$partitions" >/dev/null 2>&1

# ~100-byte lines of Zipf-like words, spread evenly over the partitions.
awk -v n="$records" 'BEGIN { srand(1); for (i = 0; i < n; i++) {
	k = 10 + int(rand() * 8); line = "";
	for (j = 0; j < k; j++) { r = rand(); line = line (j ? " " : "") "word" int(1 / (r * r + 0.0001)) }
	print line } }' > "$work/corpus.txt"
echo "records: $records lines on $partitions partitions, $(wc -c < "$work/corpus.txt") bytes ($(awk -v b="$(wc -c < "$work/corpus.txt")" -v n="$records" 'BEGIN { printf "%.0f", b / n }') per line), $(wc -w < "$work/corpus.txt") words; $runs runs each"
mkdir -p "$work/parts"
awk -v dir="$work/parts" -v p="$partitions" '{ print > (dir "/p" (NR % p)) }' "$work/corpus.txt"
for ((p = 0; p < partitions; p++)); do
	kcat -P -b "$boot" -t bench-words -p "$p" -l "$work/parts/p$p"
done
tr -s ' ' '\n' < "$work/corpus.txt" | grep -v '^$' | LC_ALL=C sort | uniq -c |
	awk '{ print $2 "\t" $1 }' | LC_ALL=C sort > "$work/want.tsv"

cat > "$work/job.yaml" <<EOF
name: bench
batch: 1s
source:
  kafka:
    brokers: $boot
    topics: [bench-words]
pipeline:
  - flat_map: words
  - map_values: one
  - reduce_by_key: sum
sink:
  files: {path: $work/out}
EOF

printf '\n%-6s %14s %14s %10s %14s %14s\n' run kcat_rec_s rill_rec_s ratio driver_rss_mb exec_rss_mb
for ((r = 1; r <= runs; r++)); do
	t0=$(now)
	got=$(kcat -C -b "$boot" -t bench-words -o beginning -e -q | wc -l)
	t1=$(now)
	[[ $got -eq $records ]] || { echo "kcat read $got of $records records" >&2; exit 1; }
	kcat_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

	rm -rf "$work/out"
	t0=$(now)
	RILL_LOG_LEVEL=info "$rill" run "$work/job.yaml" --executors 2 --available-now 2> "$work/run.log"
	t1=$(now)
	rill_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	cat "$work"/out/batch-*/part-* | awk -F'\t' '{ c[$1] += $2 } END { for (k in c) print k "\t" c[k] }' |
		LC_ALL=C sort > "$work/got.tsv"
	cmp -s "$work/got.tsv" "$work/want.tsv" || { echo "run $r: counts differ from the reference" >&2; exit 1; }
	driver_kb=$(grep -o 'msg="job stopped".*peak_rss_kb=[0-9]*' "$work/run.log" | grep -o '[0-9]*$')
	exec_kb=$(grep -o 'msg="executor stopped" peak_rss_kb=[0-9]*' "$work/run.log" | grep -o '[0-9]*$' | sort -n | tail -1)
	printf '%-6s %14s %14s %10s %14.1f %14.1f\n' "$r" "$(rate "$records" "$kcat_s")" \
		"$(rate "$records" "$rill_s")" "$(awk -v a="$kcat_s" -v b="$rill_s" 'BEGIN { printf "%.2f", a / b }')" \
		"$(awk -v k="$driver_kb" 'BEGIN { print k / 1024 }')" "$(awk -v k="$exec_kb" 'BEGIN { print k / 1024 }')"
done
echo
echo "counts: exact against tr|sort|uniq -c in every run ($(wc -l < "$work/want.tsv") distinct words)"
echo "rill_rec_s is the whole 'rill run --available-now' (process start to exit); ratio = rill/kcat."
grep 'msg="job stopped"' "$work/run.log" | sed 's/^/last run: /'
rm -rf "$work/corpus.txt" "$work/parts" "$work/out"
