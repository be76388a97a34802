#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/report.sh DIR — turns the TSV results of tests/bench/run.sh in
# DIR (and tests/bench/driver_sim.sh's table, if there) into DIR/report.md and
# PNG plots: every figure min / median / max over the runs, ratios rill/peer
# computed run by run.
set -euo pipefail

dir=${1:?usage: report.sh RESULTS_DIR}
cd "$dir"

# stats FILE KEYCOLS VALUECOL: "key<TAB>min<TAB>median<TAB>max<TAB>n" per key.
stats() {
	awk -F'\t' -v keys="$2" -v col="$3" '
		NR == 1 { next }
		$col == "" { next }
		{
			split(keys, ks, ",")
			k = $ks[1]
			for (i = 2; i in ks; i++)
				k = k "\t" $ks[i]
			v[k] = v[k] " " $col
		}
		END {
			for (k in v) {
				n = split(v[k], a, " ")
				# insertion sort: a handful of runs
				for (i = 2; i <= n; i++) { x = a[i] + 0; j = i - 1
					while (j >= 1 && a[j] + 0 > x) { a[j + 1] = a[j]; j-- }
					a[j + 1] = x }
				med = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
				printf "%s\t%s\t%s\t%s\t%d\n", k, a[1], med, a[n], n
			}
		}' "$1" | sort -t$'\t' -k1,1n -k2,2
}

# ratio NUM DEN: per (size, run) rill-vs-peer ratios of records/s, then stats.
ratio() {
	awk -F'\t' -v a="$1" -v b="$2" 'NR > 1 { r[$1 "\t" $2 "\t" $3] = $5 }
		END { print "size\trun\tratio"
			for (k in r) { split(k, f, "\t")
				if (f[3] == a && ((f[1] "\t" f[2] "\t" b) in r) && r[f[1] "\t" f[2] "\t" b] > 0)
					printf "%s\t%s\t%.3f\n", f[1], f[2], r[k] / r[f[1] "\t" f[2] "\t" b] } }' throughput.tsv > ".ratio.tsv"
	stats .ratio.tsv 1 3
	rm -f .ratio.tsv
}

fmt_rate() { awk '{ printf "%.0fk", $1 / 1000 }' <<< "$1"; }

{
	echo "# rill benchmark report"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'). Every figure is min / median / max over the runs;"
	echo "ratios are computed run by run (rill and its peer in the same run) before taking"
	echo "min / median / max."
	echo
	echo "## Machine"
	echo
	cat machine.md
	echo
	if [[ -s throughput.tsv ]]; then
		echo "## Throughput: word count, --available-now, 8 partitions, 100-byte lines"
		echo
		echo "Records/s from process start to exit (rill: \`rill run --available-now\` with"
		echo "2 executors; Spark: Structured Streaming, \`local[2]\`, Trigger.AvailableNow;"
		echo "kcat: \`kcat -C -e\` reading the topic and printing every record, one client;"
		echo "rawread: \`rill-rawread\` (tests/bench/rawread.c), librdkafka alone with its"
		echo "default prefetch, a consumer per partition, every payload byte summed, nothing"
		echo "printed: the client library's own limit; rill-udf: the same job through the"
		echo "user functions words, one and add of examples/udf/wordcount.c, \`--artifact\`)."
		echo
		echo "| records | tool | records/s (min / median / max) | seconds (median) |"
		echo "|---|---|---|---|"
		stats throughput.tsv 1,3 5 > .t.tsv
		stats throughput.tsv 1,3 4 > .s.tsv
		while IFS=$'\t' read -r size tool lo med hi n; do
			s=$(awk -F'\t' -v a="$size" -v b="$tool" '$1 == a && $2 == b { print $4 }' .s.tsv)
			echo "| $size | $tool | $(fmt_rate "$lo") / **$(fmt_rate "$med")** / $(fmt_rate "$hi") | $s |"
		done < .t.tsv
		echo
		echo "| records | ratio | min / median / max |"
		echo "|---|---|---|"
		ratio rill-udf rill | while IFS=$'\t' read -r size lo med hi n; do
			echo "| $size | rill-udf / rill | $lo / **$med** / $hi |"
		done
		for peer in spark kcat rawread; do
			ratio rill "$peer" | while IFS=$'\t' read -r size lo med hi n; do
				echo "| $size | rill / $peer | $lo / **$med** / $hi |"
			done
		done
		echo
		echo "![throughput](throughput.png)"
		echo
		echo "## Memory: peak resident set size during the throughput runs"
		echo
		echo "| records | process | MB (min / median / max) |"
		echo "|---|---|---|"
		stats throughput.tsv 1,3 6 | while IFS=$'\t' read -r size tool lo med hi n; do
			name=$tool; [[ $tool == rill* ]] && name="$tool driver"; [[ $tool == spark ]] && name="Spark (its JVM)"
			echo "| $size | $name | $lo / **$med** / $hi |"
		done
		stats throughput.tsv 1,3 7 | while IFS=$'\t' read -r size tool lo med hi n; do
			echo "| $size | $tool executor (largest of 2) | $lo / **$med** / $hi |"
		done
		echo
		echo "![memory](memory.png)"
		echo
	fi
	if [[ -s latency.tsv ]]; then
		echo "## Latency: Kafka timestamp to sink commit, fixed input rates"
		echo
		echo "\`rill-loadgen\` produces 100-byte lines at a fixed rate; the job (word count,"
		echo "files sink, 2 executors, backpressure off: the rate is fixed) reports every"
		echo "record's time from its Kafka timestamp to its batch's sink commit."
		echo
		echo "| batch | target rate | achieved (median) | p50 ms | p99 ms | max ms |"
		echo "|---|---|---|---|---|---|"
		stats latency.tsv 1,2 4 > .a.tsv
		stats latency.tsv 1,2 5 > .p50.tsv
		stats latency.tsv 1,2 6 > .p99.tsv
		stats latency.tsv 1,2 7 > .max.tsv
		while IFS=$'\t' read -r iv rate lo med hi n; do
			pick() { awk -F'\t' -v a="$iv" -v b="$rate" '$1 == a && $2 == b { printf "%s / **%s** / %s", $3, $4, $5 }' "$1"; }
			echo "| $iv | $(fmt_rate "$rate")/s | $(fmt_rate "$med")/s | $(pick .p50.tsv) | $(pick .p99.tsv) | $(pick .max.tsv) |"
		done < .a.tsv
		echo
		echo "![latency](latency.png)"
		echo
	fi
	if [[ -s overhead.tsv ]]; then
		echo "## Per-batch overhead at 10 ms batches"
		echo
		echo "Processing time of a batch as the driver logs it: *empty* batches find no new"
		echo "record (one offset request, no task); *tiny* ones carry about one record"
		echo "(50 records/s over 8 partitions): both stages, the shuffle and the files sink."
		echo
		echo "| batches | p50 ms | p99 ms | max ms |"
		echo "|---|---|---|---|"
		for kind in empty tiny; do
			p50=$(stats overhead.tsv 1 4 | awk -F'\t' -v k="$kind" '$1 == k { printf "%s / **%s** / %s", $2, $3, $4 }')
			p99=$(stats overhead.tsv 1 5 | awk -F'\t' -v k="$kind" '$1 == k { printf "%s / **%s** / %s", $2, $3, $4 }')
			mx=$(stats overhead.tsv 1 6 | awk -F'\t' -v k="$kind" '$1 == k { printf "%s / **%s** / %s", $2, $3, $4 }')
			echo "| $kind | $p50 | $p99 | $mx |"
		done
		echo
		echo "![overhead](overhead.png)"
	fi
	if [[ -s state.tsv ]]; then
		echo "## State: update_state_by_key over many distinct keys, memory capped"
		echo
		echo "Keys \`k0\` … \`kN-1\`, one record each and a second for every tenth, on 8"
		echo "partitions; \`map_values: one\`, \`update_state_by_key: sum\`, 5 s batches,"
		echo "\`state_memory: 64MB\`, 2 executors, \`--available-now\`; the job's processes"
		echo "in a memory cgroup (the cap column; empty: none could be made), which"
		echo "kills it past the cap (its peak counts the page cache of the files the sink"
		echo "writes). A run that finishes has its last batch (every key's state) equal"
		echo "to awk's counts."
		echo
		echo "| keys | run | seconds | executor peak RSS MB (larger of 2) | cgroup peak MB (driver + executors) | cap MB | batches | tables moved to RocksDB | result |"
		echo "|---|---|---|---|---|---|---|---|---|"
		tail -n +2 state.tsv | while IFS=$'\t' read -r keys run sec rss peak cap batches spilled result; do
			echo "| $keys | $run | $sec | $rss | $peak | $cap | $batches | $spilled | $result |"
		done
		echo
	fi
	if [[ -s scale.tsv ]]; then
		echo
		echo "## Scale: the same word count on more partitions"
		echo
		echo "1M lines on a topic of N partitions, \`rill run --executors 2 --available-now\`"
		echo "(counts checked against the reference): wall time, each executor's peak RSS and"
		echo "peak thread count. Beside it, on the same topic in the same run, the Kafka"
		echo "client's own limit: \`kcat -C -e\` reading and printing the whole topic (one"
		echo "client), and \`rill-rawread\`, librdkafka alone (a consumer per partition up to"
		echo "64 threads, default prefetch, every payload byte summed, nothing printed; its"
		echo "records, bytes and byte sum checked against the corpus); both from process start"
		echo "to exit, as rill."
		echo
		echo "Every partition count has two topics of the same lines, two **layouts**:"
		echo "*sticky* is \`kcat -P\` as is (librdkafka's sticky partitioner for records"
		echo "without a key: a partition takes everything produced during a linger, in record"
		echo "batches of up to 1 MB; at many partitions most partitions get a few records and"
		echo "some most of them); *spread* is \`kcat -P -X sticky.partitioning.linger.ms=0\`"
		echo "(a random partition per record: even partitions in small batches, as keyed"
		echo "producers or Java's 16 KB batches write them). How they lie in the broker's log"
		echo "files:"
		echo
		if [[ -s layout.tsv ]]; then
			echo "| partitions | layout | records per partition (min / median / max) | record batches | records per batch (median / max) | KB per batch (median / max) | produced in s |"
			echo "|---|---|---|---|---|---|---|"
			tail -n +2 layout.tsv | sort -t$'\t' -k1,1n -k2,2r | while IFS=$'\t' read -r np lay ps pmin pmed pmax nb brmed brmax bkmed bkmax; do
				echo "| $np | $lay | $pmin / $pmed / $pmax | $nb | $brmed / $brmax | $bkmed / $bkmax | $ps |"
			done
			echo
		fi
		echo "Then 100 ms batches at a trickle (200 records/s for 10 s, on a topic of its own"
		echo "with N partitions, fed by \`rill-loadgen\`, so not a matter of layout; run once per"
		echo "partition count and run, shown on the spread row): the processing time of"
		echo "batches that had records, p50 and p99."
		echo
		echo "| partitions | layout | wall s | executor RSS MB | executor threads | trickle p50 ms | trickle p99 ms | kcat -C -e s | rawread s |"
		echo "|---|---|---|---|---|---|---|---|---|"
		for col in 4 5 6 7 8 9 10; do stats scale.tsv 1,2 "$col" > ".scs$col.tsv"; done
		awk -F'\t' 'NR > 1 { print $1 "\t" $2 }' scale.tsv | sort -u | sort -t$'\t' -k1,1n -k2,2r | while IFS=$'\t' read -r np lay; do
			row="| $np | $lay"
			for col in 4 5 6 7 8 9 10; do
				cell=$(awk -F'\t' -v a="$np" -v b="$lay" '$1 == a && $2 == b { printf "%s / **%s** / %s", $3, $4, $5 }' ".scs$col.tsv")
				row="$row | ${cell:-—}"
			done
			echo "$row |"
		done
		echo
		echo "Speed ratios, run by run (a peer's seconds over rill's on the same topic in the"
		echo "same run: above 1, rill is faster):"
		echo
		echo "| partitions | layout | rill / kcat -C -e | rill / rawread |"
		echo "|---|---|---|---|"
		for peer in 9 10; do
			awk -F'\t' -v c="$peer" 'BEGIN { print "partitions\tlayout\tratio" }
				NR > 1 && $4 > 0 && $c != "" { printf "%s\t%s\t%.3f\n", $1, $2, $c / $4 }' scale.tsv > .scr.tsv
			stats .scr.tsv 1,2 3 > ".scr$peer.tsv"
		done
		awk -F'\t' 'NR > 1 { print $1 "\t" $2 }' scale.tsv | sort -u | sort -t$'\t' -k1,1n -k2,2r | while IFS=$'\t' read -r np lay; do
			row="| $np | $lay"
			for peer in 9 10; do
				cell=$(awk -F'\t' -v a="$np" -v b="$lay" '$1 == a && $2 == b { printf "%s / **%s** / %s", $3, $4, $5 }' ".scr$peer.tsv")
				row="$row | ${cell:-—}"
			done
			echo "$row |"
		done
		rm -f .scr.tsv .scr9.tsv .scr10.tsv
		echo
		echo "![scale](scale.png)"
	fi
	# tests/bench/driver_sim.sh's table: no broker, written as it is.
	if [[ -s driver-sim.md ]]; then
		echo
		cat driver-sim.md
	fi
} > report.md

# ---- plots ----
gp() { gnuplot -e "set terminal pngcairo size 900,480 font ',10'; set output '$1'; set style data histogram;
	set style histogram errorbars gap 2 lw 1; set style fill solid 0.6 border -1; set grid ytics;
	set key top left; $2"; }

if [[ -s throughput.tsv ]]; then
	# throughput: median bars with min..max error bars, per size and tool
	awk -F'\t' '{ print $1 "\t" $2 "\t" $4 "\t" $3 "\t" $5 }' .t.tsv > .tp.dat
	for tool in rill spark kcat rawread; do awk -F'\t' -v t="$tool" '$2 == t { print $1 "\t" $3 / 1000 "\t" $4 / 1000 "\t" $5 / 1000 }' .tp.dat > ".tp-$tool.dat"; done
	# the tools measured (--no-spark leaves Spark out), rill first
	series="'.tp-rill.dat' using 2:3:4:xtic(1) title 'rill'"
	[[ -s .tp-spark.dat ]] && series="$series, '.tp-spark.dat' using 2:3:4 title 'Spark SS'"
	[[ -s .tp-kcat.dat ]] && series="$series, '.tp-kcat.dat' using 2:3:4 title 'kcat -C -e'"
	[[ -s .tp-rawread.dat ]] && series="$series, '.tp-rawread.dat' using 2:3:4 title 'rawread (librdkafka)'"
	gp throughput.png "set ylabel 'thousand records/s'; set yrange [0:*]; set title 'Word count throughput (median, min..max)'; plot $series"
	# memory
	{ stats throughput.tsv 1,3 6 | awk -F'\t' '$2 == "rill" { print $1 "-driver\t" $4 "\t" $3 "\t" $5 }'
	  stats throughput.tsv 1,3 7 | awk -F'\t' '$2 == "rill" { print $1 "-executor\t" $4 "\t" $3 "\t" $5 }'
	  stats throughput.tsv 1,3 6 | awk -F'\t' '$2 == "spark" { print $1 "-spark\t" $4 "\t" $3 "\t" $5 }'; } > .mem.dat
	gp memory.png "set ylabel 'peak RSS, MB'; set logscale y; set title 'Peak resident memory (median, min..max)'; set xtics rotate by -20;
		plot '.mem.dat' using 2:3:4:xtic(1) title 'peak RSS'"
fi
if [[ -s latency.tsv ]]; then
	# latency: p50 and p99 per interval and rate
	awk -F'\t' '{ print $1 "," $2 / 1000 "k/s\t" $4 "\t" $3 "\t" $5 }' .p50.tsv > .l50.dat
	awk -F'\t' '{ print $1 "," $2 / 1000 "k/s\t" $4 "\t" $3 "\t" $5 }' .p99.tsv > .l99.dat
	gp latency.png "set ylabel 'ms'; set logscale y; set title 'Latency, Kafka timestamp to sink commit (median, min..max)';
		plot '.l50.dat' using 2:3:4:xtic(1) title 'p50', '.l99.dat' using 2:3:4 title 'p99'"
fi
if [[ -s overhead.tsv ]]; then
	# overhead
	for q in 4 5; do stats overhead.tsv 1 "$q" | awk -F'\t' '{ print $1 "\t" $3 "\t" $2 "\t" $4 }' > ".o$q.dat"; done
	gp overhead.png "set ylabel 'ms'; set title 'Batch processing time at 10 ms batches (median, min..max)';
		plot '.o4.dat' using 2:3:4:xtic(1) title 'p50', '.o5.dat' using 2:3:4 title 'p99'"
fi
if [[ -s scale.tsv ]]; then
	# scale_series COL LAYOUT: "partitions<TAB>median<TAB>min<TAB>max" for every
	# partition count (NaN where the layout has no value), so that every
	# series has a bar slot for every count.
	scale_series() {
		for np in $(awk -F'\t' 'NR > 1 { print $1 }' scale.tsv | sort -n -u); do
			awk -F'\t' -v a="$np" -v b="$2" 'BEGIN { v = a "\tNaN\tNaN\tNaN" }
				$1 == a && $2 == b { v = a "\t" $4 "\t" $3 "\t" $5 } END { print v }' ".scs$1.tsv"
		done
	}
	for c in 4 5 6 7 10; do
		for lay in spread sticky; do scale_series "$c" "$lay" > ".sc$c-$lay.dat"; done
	done
	gnuplot -e "set terminal pngcairo size 1200,480 font ',10'; set output 'scale.png';
		set style data histogram; set style histogram errorbars gap 2 lw 1; set style fill solid 0.6 border -1;
		set grid ytics; set key top left; set logscale y; set xlabel 'partitions';
		set multiplot layout 1,2 title 'Word count over 1M lines by partition count (median, min..max)';
		set title 'wall time, s (rill vs librdkafka alone)';
		plot '.sc4-spread.dat' using 2:3:4:xtic(1) title 'rill, spread', '.sc4-sticky.dat' using 2:3:4 title 'rill, sticky',
			'.sc10-spread.dat' using 2:3:4 title 'rawread, spread', '.sc10-sticky.dat' using 2:3:4 title 'rawread, sticky';
		set title 'rill executor (largest of 2); trickle batches';
		plot '.sc5-spread.dat' using 2:3:4:xtic(1) title 'RSS MB, spread', '.sc5-sticky.dat' using 2:3:4 title 'RSS MB, sticky',
			'.sc6-spread.dat' using 2:3:4 title 'threads, spread', '.sc6-sticky.dat' using 2:3:4 title 'threads, sticky',
			'.sc7-spread.dat' using 2:3:4 title 'trickle p50 ms';
		unset multiplot"
fi
rm -f .sc*.dat .scs*.tsv
rm -f .t.tsv .s.tsv .a.tsv .p50.tsv .p99.tsv .max.tsv .tp.dat .tp-*.dat .mem.dat .l50.dat .l99.dat .o4.dat .o5.dat
echo "report: $dir/report.md" >&2
