# SPDX-License-Identifier: Apache-2.0
"""tests/bench/spark/wordcount.py — Spark Structured Streaming's word count on a
Kafka topic, the benchmark peer of rill's flat_map/reduce_by_key job. Run it
through tests/bench/spark/run.sh, which installs PySpark and the Kafka
connector and times the whole process.

The query: Kafka source (startingOffsets earliest) -> split(value, ' ') ->
explode -> foreachBatch, which counts the words of each micro-batch on its own
(groupBy(word).count(), like rill's per-batch reduce_by_key; no state across
batches) and writes "word<TAB>count" lines into OUT/batch-<id>/part-*, so the
totals are the sum over the batch directories, as with rill's files sink.
Trigger.AvailableNow: it processes what the topic holds when it starts, then
stops.

It writes KEY=VALUE lines to --result: records (the sum of numInputRows over
the query's progress events), batches, startup_seconds (from --t0 to the
SparkSession's being ready: Python, the JVM, the SparkContext), setup_seconds
(from then to the query's start()), stop_seconds (spark.stop()), query_seconds (from just before
start() to the return of awaitTermination()), jvm_pid, jvm_hwm_kb (VmHWM of
Spark's JVM — driver and executor in one process in local mode — read from
/proc just before spark.stop(): the JVM's peak resident set over its whole
life) and python_hwm_kb (this process's own peak, the py4j client).
"""

import argparse
import os
import resource
import sys
import threading
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQueryListener


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--out", required=True, help="batch-<id>/ directories and checkpoint/ go here")
    p.add_argument("--result", required=True, help="result file, KEY=VALUE lines")
    p.add_argument("--jars", default="", help="comma-separated jars for spark.jars (the Kafka connector)")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--shuffle-partitions", type=int, default=8)
    p.add_argument("--max-per-trigger", type=int, default=0, help="maxOffsetsPerTrigger; 0: unset")
    p.add_argument("--t0", type=float, default=0.0,
                   help="the caller's clock (epoch seconds) when it started this process")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="an extra Spark setting (after the ones below, so it overrides them)")
    return p.parse_args()


class Progress(StreamingQueryListener):
    """Sums numInputRows over every progress event (recentProgress keeps only the
    last spark.sql.streaming.numRecentProgressUpdates = 100 of them). Events come
    through Spark's asynchronous listener bus in order, so once the terminated
    event is here every progress event of the query is too."""

    def __init__(self):
        super().__init__()
        self.records = 0
        self.batches = 0
        self.terminated = threading.Event()
        self.exception = None

    def onQueryStarted(self, event):
        pass

    def onQueryProgress(self, event):
        self.records += event.progress.numInputRows
        self.batches += 1

    def onQueryIdle(self, event):
        pass

    def onQueryTerminated(self, event):
        self.exception = event.exception
        self.terminated.set()


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def jvm_pid(spark):
    jvm = spark.sparkContext._jvm
    try:
        return int(jvm.java.lang.ProcessHandle.current().pid())
    except Exception:  # py4j and interface static methods: fall back to "pid@host"
        return int(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getName().split("@")[0])


def main():
    a = parse_args()
    out = os.path.abspath(a.out)

    # Spark settings that differ from Spark's defaults, and why:
    #  - master local[2]: driver and executor in one JVM with 2 task threads, the
    #    machine's 2 cores (rill runs with 2 executors on the same machine).
    #  - spark.sql.shuffle.partitions = 8 (default 200): one reduce partition per
    #    topic partition of the 8-partition benchmark topic, as rill reduces into a
    #    few partitions; 200 tiny reduce tasks per micro-batch would measure task
    #    scheduling, not word counting. (AQE, which would coalesce them in a batch
    #    job, is off in streaming queries, foreachBatch's DataFrame included:
    #    Spark logs "spark.sql.adaptive.enabled is not supported in streaming".)
    #  - spark.ui.enabled = false (default true): rill serves no web UI; this saves
    #    the Jetty server, its threads and the UI's event store in the heap.
    #  - spark.jars: the Kafka connector and its dependencies that PySpark does
    #    not ship (fetched from Maven Central by run.sh).
    # Everything else is Spark's default: spark.driver.memory 1g (the JVM's -Xmx
    # in local mode), the Kafka source's consumer settings, one Spark task per
    # Kafka partition, the console progress bar (into run.sh's log). Only the log
    # level is lowered to WARN, as PySpark's shell does. (run.sh also sets
    # SPARK_LOCAL_IP=127.0.0.1 so that the driver binds to loopback.)
    b = (SparkSession.builder.appName("rill-bench-wordcount").master(a.master)
         .config("spark.sql.shuffle.partitions", str(a.shuffle_partitions))
         .config("spark.ui.enabled", "false"))
    if a.jars:
        b = b.config("spark.jars", a.jars)
    for kv in a.conf:
        k, sep, v = kv.partition("=")
        if not sep:
            sys.exit(f"wordcount.py: --conf wants KEY=VALUE, got {kv!r}")
        b = b.config(k, v)
    spark = b.getOrCreate()
    t_ready = time.time()
    spark.sparkContext.setLogLevel("WARN")

    progress = Progress()
    spark.streams.addListener(progress)

    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", a.brokers)
              .option("subscribe", a.topic)
              .option("startingOffsets", "earliest"))
    if a.max_per_trigger > 0:
        reader = reader.option("maxOffsetsPerTrigger", str(a.max_per_trigger))
    words = (reader.load()
             .select(F.explode(F.split(F.col("value").cast("string"), " ")).alias("word"))
             .where(F.col("word") != ""))  # as tr -s: no empty words from doubled spaces

    def write_batch(df, batch_id):
        # The text writer, not the CSV one: the same "word<TAB>count" lines,
        # without CSV's quoting of words that hold quotes or tabs.
        (df.groupBy("word").count()
         .select(F.concat_ws("\t", F.col("word"), F.col("count").cast("string")))
         .write.mode("overwrite").text(os.path.join(out, f"batch-{batch_id}")))

    t_setup = time.time() - t_ready  # the listener (py4j's callback server) and the source's plan
    t0 = time.monotonic()
    query = (words.writeStream.foreachBatch(write_batch)
             .option("checkpointLocation", os.path.join(out, "checkpoint"))
             .trigger(availableNow=True)
             .start())
    query.awaitTermination()
    query_seconds = time.monotonic() - t0

    if not progress.terminated.wait(60):
        sys.exit("wordcount.py: no QueryTerminatedEvent within 60 s of the query's end")
    if progress.exception:
        sys.exit(f"wordcount.py: query failed: {progress.exception}")
    recent = query.recentProgress
    if len(recent) == progress.batches:  # a cross-check while recentProgress holds them all
        assert sum(p["numInputRows"] for p in recent) == progress.records

    pid = jvm_pid(spark)
    jvm_hwm = vm_hwm_kb(pid)
    result = {
        "records": progress.records,
        "batches": progress.batches,
        "query_seconds": query_seconds,
        "jvm_pid": pid,
        "jvm_hwm_kb": jvm_hwm,
        "python_hwm_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "spark_version": spark.version,
    }
    t_stop = time.time()
    spark.stop()
    result["startup_seconds"] = t_ready - a.t0 if a.t0 else -1
    result["stop_seconds"] = time.time() - t_stop
    result["setup_seconds"] = t_setup
    with open(a.result, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in result.items())


if __name__ == "__main__":
    main()
