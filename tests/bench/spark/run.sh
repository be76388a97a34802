#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bench/spark/run.sh — the benchmark peer: Apache Spark Structured Streaming
# (PySpark, local[2], Trigger.AvailableNow) counting the words of a Kafka topic
# the way rill's flat_map/reduce_by_key job does (per-batch counts written to
# OUT/batch-<id>/part-*, "word<TAB>count"), timed and checked. Not part of CI.
#
# Usage: tests/bench/spark/run.sh --brokers HOST:PORT --topic T --out DIR
#            [--records N] [--max-per-trigger N] [--check CORPUS]
#            [--shuffle-partitions N] [--conf KEY=VALUE]... [--fresh]
#        tests/bench/spark/run.sh --install
#
#   --brokers, --topic  the Kafka topic to read from its earliest offsets
#   --out DIR           batch-<id>/, checkpoint/, spark.log, result.txt (and
#                       want.tsv, got.tsv with --check); must be empty or absent,
#                       unless --fresh (which removes those first)
#   --records N         the records the topic holds: exit 1 if the query read another number
#   --max-per-trigger N the Kafka source's maxOffsetsPerTrigger (default: unset,
#                       so one micro-batch takes everything)
#   --check CORPUS      sum the per-batch counts and compare them with
#                       tr -s ' ' '\n' < CORPUS | sort | uniq -c; exit 1 on a mismatch
#   --shuffle-partitions N  spark.sql.shuffle.partitions (default 8; Spark's is 200)
#   --conf KEY=VALUE    any other Spark setting (e.g. spark.driver.memory=2g)
#   --install           only install (cached, idempotent): a venv with PySpark from
#                       PyPI at $RILL_CACHE/spark-venv and the Kafka connector's jars
#                       from Maven Central at $RILL_CACHE/spark-kafka-VERSION/jars
#
# Stdout, two lines:
#   spark records=N seconds=S rss_mb=M
#   spark_query_seconds=Q
# records: numInputRows summed over the query's progress events; seconds: wall time
# of the whole Python process (interpreter, JVM start, query, spark.stop(), exit),
# like rill's whole 'rill run --available-now'; rss_mb: VmHWM (peak resident set)
# of Spark's JVM (driver and executor in one process in local mode), read just
# before spark.stop(); spark_query_seconds: from just before the query's start()
# to AvailableNow's termination. Details (batches, the Python client's own peak
# RSS) go to stderr.
#
# Environment: RILL_CACHE (~/.cache/rill), RILL_SPARK_VERSION (3.5.7), JAVA_HOME
# (default /usr/lib/jvm/java-17-openjdk-amd64 if present), PYTHON (python3: the
# interpreter the venv is made from).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# 3.5.7: the newest 3.5.x with both pyspark on PyPI and
# spark-sql-kafka-0-10_2.12 on Maven Central (PyPI has 3.5.8 and 3.5.9, Maven
# Central as reached from here does not). The pip package is built for Scala 2.12.
SPARK_VERSION=${RILL_SPARK_VERSION:-3.5.7}
SCALA_BINARY=2.12
CACHE_ROOT=${RILL_CACHE:-$HOME/.cache/rill}
VENV=$CACHE_ROOT/spark-venv
VENV_MARKER=$VENV/.rill-pyspark-version
JARS_HOME=$CACHE_ROOT/spark-kafka-$SPARK_VERSION
JARS_DIR=$JARS_HOME/jars
JARS_MARKER=$JARS_HOME/.installed

log() { printf 'run.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source-path=SCRIPTDIR source=../../../deploy/lib/maven.sh
source "$here/../../../deploy/lib/maven.sh"
need() {
	local c
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || die "needs $c on PATH"; done
}
usage() { sed -n '3,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

if [[ -z ${JAVA_HOME:-} && -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]]; then
	export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
fi
if [[ -n ${JAVA_HOME:-} ]]; then
	export PATH=$JAVA_HOME/bin:$PATH
fi

# ---------------------------------------------------------------- install

venv_complete() {
	[[ -x $VENV/bin/python && -f $VENV_MARKER && $(<"$VENV_MARKER") == "$SPARK_VERSION" ]]
}

install_venv() {
	venv_complete && return 0
	log "installing pyspark==$SPARK_VERSION from PyPI into $VENV"
	rm -rf "$VENV"
	"${PYTHON:-python3}" -m venv "$VENV"
	if ! "$VENV/bin/pip" install --disable-pip-version-check -q "pyspark==$SPARK_VERSION"; then
		rm -rf "$VENV"
		die "pip failed to install pyspark==$SPARK_VERSION"
	fi
	printf '%s\n' "$SPARK_VERSION" >"$VENV_MARKER"
	log "installed pyspark $SPARK_VERSION ($(du -sh "$VENV" | cut -f1)) in $VENV"
}

# PySpark's own jars directory (inside the venv).
pyspark_jars() {
	local d
	for d in "$VENV"/lib/python3*/site-packages/pyspark/jars; do
		[[ -d $d ]] && { printf '%s\n' "$d"; return 0; }
	done
	die "no pyspark/jars directory in $VENV"
}

write_pom() {
	maven_pom "$1" spark-kafka-jars "Spark's Kafka connector and its dependencies (tests/bench/spark/run.sh)" <<EOF
    <dependency>
      <groupId>org.apache.spark</groupId>
      <artifactId>spark-sql-kafka-0-10_${SCALA_BINARY}</artifactId>
      <version>${SPARK_VERSION}</version>
    </dependency>
EOF
}

jars_complete() { maven_complete "$JARS_DIR" "$JARS_MARKER"; }

# The connector's runtime dependencies from Maven Central (mvn, so no Ivy
# resolution at each start), less those whose artifact PySpark already ships in
# pyspark/jars (Spark's own modules, Hadoop's client, compression codecs, Scala,
# slf4j): the same jar twice in other versions would only be shadowed by, or
# clash with, PySpark's.
install_jars() {
	jars_complete && return 0
	need mvn
	local pyjars work gav jar kept=0
	pyjars=$(pyspark_jars)
	log "installing spark-sql-kafka-0-10_$SCALA_BINARY:$SPARK_VERSION from Maven Central into $JARS_DIR"
	mkdir -p "$JARS_HOME"
	work=$(mktemp -d "$JARS_HOME/install.XXXXXX")
	write_pom "$work/pom.xml"
	if ! maven_copy_deps "$work" \
		"org.apache.maven.plugins:maven-dependency-plugin:$DEPENDENCY_PLUGIN_VERSION:list" \
		-DoutputFile="$work/deps.txt"; then
		rm -rf "$work"
		die "mvn failed to fetch spark-sql-kafka-0-10_$SCALA_BINARY:$SPARK_VERSION"
	fi
	mkdir -p "$work/jars"
	# deps.txt lines: "   group:artifact:type[:classifier]:version:scope[ -- module ...]"
	while read -r gav _; do
		[[ $gav == *:*:*:*:* ]] || continue
		local -a f
		IFS=: read -r -a f <<<"$gav"
		if [[ ${#f[@]} -eq 6 ]]; then
			jar=${f[1]}-${f[4]}-${f[3]}.jar
		else
			jar=${f[1]}-${f[3]}.jar
		fi
		[[ -f $work/lib/$jar ]] || { rm -rf "$work"; die "mvn listed $gav but copied no $jar"; }
		if compgen -G "$pyjars/${f[1]}-[0-9]*.jar" >/dev/null; then
			continue # PySpark ships this artifact
		fi
		mv "$work/lib/$jar" "$work/jars/$jar"
		kept=$((kept + 1))
	done <"$work/deps.txt"
	[[ -f $work/jars/spark-sql-kafka-0-10_$SCALA_BINARY-$SPARK_VERSION.jar ]] ||
		{ rm -rf "$work"; die "install incomplete: no spark-sql-kafka-0-10_$SCALA_BINARY-$SPARK_VERSION.jar"; }
	cp "$work/pom.xml" "$JARS_HOME/pom.xml"
	maven_commit "$work/jars" "$JARS_DIR" "$JARS_MARKER"
	rm -rf "$work"
	log "installed $kept jars ($(du -sh "$JARS_DIR" | cut -f1)) in $JARS_DIR: $(tr '\n' ' ' <"$JARS_MARKER")"
}

do_install() {
	need flock "${PYTHON:-python3}" java
	mkdir -p "$CACHE_ROOT"
	if venv_complete && jars_complete; then
		return 0
	fi
	# One installer at a time; the others wait, then find it done.
	local lock_fd
	exec {lock_fd}>"$CACHE_ROOT/spark-venv.lock"
	flock "$lock_fd"
	install_venv
	install_jars
	exec {lock_fd}>&-
}

# ---------------------------------------------------------------- run

brokers='' topic='' out='' records='' max_per_trigger=0 check='' shuffle_partitions=8
fresh=0 install_only=0
confs=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--brokers | --topic | --out | --records | --max-per-trigger | --check | --shuffle-partitions | --conf)
		[[ $# -ge 2 ]] || die "$1 wants a value"
		case $1 in
		--brokers) brokers=$2 ;;
		--topic) topic=$2 ;;
		--out) out=$2 ;;
		--records) records=$2 ;;
		--max-per-trigger) max_per_trigger=$2 ;;
		--check) check=$2 ;;
		--shuffle-partitions) shuffle_partitions=$2 ;;
		--conf) confs+=(--conf "$2") ;;
		esac
		shift
		;;
	--fresh) fresh=1 ;;
	--install) install_only=1 ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
	shift
done

if [[ $install_only -eq 1 ]]; then
	do_install
	printf '%s\n%s\n' "$VENV" "$JARS_DIR"
	exit 0
fi
[[ -n $brokers && -n $topic && -n $out ]] || die "--brokers, --topic and --out are required (see --help)"
[[ -z $records || $records =~ ^[0-9]+$ ]] || die "--records wants a number"
[[ $max_per_trigger =~ ^[0-9]+$ ]] || die "--max-per-trigger wants a number"
[[ $shuffle_partitions =~ ^[1-9][0-9]*$ ]] || die "--shuffle-partitions wants a positive number"
[[ -z $check || -r $check ]] || die "cannot read corpus $check"

do_install

mkdir -p "$out"
out=$(cd "$out" && pwd)
if [[ $fresh -eq 1 ]]; then
	rm -rf "$out"/batch-* "$out/checkpoint" "$out"/{spark.log,result.txt,want.tsv,got.tsv}
fi
[[ -z $(ls -A "$out") ]] || die "$out is not empty (a checkpoint there would resume past the earliest offsets); use --fresh"

jars=$(sed "s|^|$JARS_DIR/|" "$JARS_MARKER" | paste -sd, -)
# PySpark finds its own Spark inside the venv; nothing from the caller's shell
# may point it elsewhere or add spark-submit arguments.
unset SPARK_HOME PYSPARK_SUBMIT_ARGS PYSPARK_DRIVER_PYTHON
export PYSPARK_PYTHON=$VENV/bin/python
# The driver binds to loopback, not to the address the hostname resolves to.
export SPARK_LOCAL_IP=127.0.0.1

t0=$(date +%s.%N)
if ! "$VENV/bin/python" "$here/wordcount.py" --brokers "$brokers" --topic "$topic" --out "$out" \
	--result "$out/result.txt" --t0 "$t0" --jars "$jars" --shuffle-partitions "$shuffle_partitions" \
	--max-per-trigger "$max_per_trigger" ${confs[@]+"${confs[@]}"} >"$out/spark.log" 2>&1; then
	tail -n 40 "$out/spark.log" >&2
	die "the Spark query failed (whole log: $out/spark.log)"
fi
t1=$(date +%s.%N)

declare -A res=()
while IFS='=' read -r k v; do
	[[ -n $k ]] && res[$k]=$v
done <"$out/result.txt"
for k in records batches query_seconds jvm_hwm_kb python_hwm_kb startup_seconds setup_seconds stop_seconds; do
	[[ -n ${res[$k]:-} ]] || die "$out/result.txt has no $k"
done

awk -v n="${res[records]}" -v a="$t0" -v b="$t1" -v kb="${res[jvm_hwm_kb]}" -v q="${res[query_seconds]}" \
	'BEGIN { printf "spark records=%d seconds=%.3f rss_mb=%.1f\nspark_query_seconds=%.3f\n", n, b - a, kb / 1024, q }'
log "$(awk -v b="${res[batches]}" -v kb="${res[python_hwm_kb]}" -v v="${res[spark_version]:-?}" \
	-v up="${res[startup_seconds]}" -v setup="${res[setup_seconds]}" -v q="${res[query_seconds]}" \
	-v stop="${res[stop_seconds]}" -v a="$t0" -v z="$t1" \
	'BEGIN { printf "spark %s: %d micro-batches; seconds = %.2f to SparkSession ready + %.2f to the query start + %.2f query + %.2f spark.stop() + %.2f exit; the Python (py4j client) process peak RSS %.1f MB", v, b, up, setup, q, stop, z - a - up - setup - q - stop, kb / 1024 }'); log in $out/spark.log"

status=0
if [[ -n $records && ${res[records]} -ne $records ]]; then
	log "read ${res[records]} records, expected $records"
	status=1
fi
if [[ -n $check ]]; then
	tr -s ' ' '\n' <"$check" | grep -v '^$' | LC_ALL=C sort | uniq -c |
		awk '{ print $2 "\t" $1 }' | LC_ALL=C sort >"$out/want.tsv"
	find "$out" -path "$out/batch-*/part-*" -type f -exec cat {} + |
		awk -F'\t' '{ c[$1] += $2 } END { for (k in c) print k "\t" c[k] }' | LC_ALL=C sort >"$out/got.tsv"
	if cmp -s "$out/got.tsv" "$out/want.tsv"; then
		log "check: counts equal tr|sort|uniq -c of $check ($(wc -l <"$out/want.tsv") distinct words)"
	else
		log "check: counts differ from tr|sort|uniq -c of $check (got $(wc -l <"$out/got.tsv"), want $(wc -l <"$out/want.tsv") distinct words):"
		diff "$out/want.tsv" "$out/got.tsv" | head -n 10 >&2 || true
		status=1
	fi
fi
exit "$status"
