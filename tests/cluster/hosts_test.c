// SPDX-License-Identifier: Apache-2.0
// The multi-host test bed (deploy/cluster.sh) proved with today's binaries:
// ZooKeeper and Kafka on host 1, rill-driver on host 2, rill-executor on
// hosts 3 and 4, each in its own network namespace and address; a word count
// across them, and one with host 4 cut off mid-run.
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixtures/cluster.h"
#include "tests/fixtures/fixture.h"

#define DRIVER_PORT 7070

// ---- the bed itself ----

Test(hosts, reach_each_other_and_nothing_beyond_the_bridge, .init = rt_cluster_reset, .timeout = 60)
{
	const char *dir = rt_cluster_dir();
	for (int h = 1; h <= RT_CLUSTER_HOSTS; h++) {
		char *o, *e;
		int   rv = rt_sh_capture(dir, &o, &e,
		      "%s/deploy/cluster.sh exec --dir %s host%d -- ip -4 -o addr show dev eth0 &&"
		        " %s/deploy/cluster.sh exec --dir %s host%d -- ip -4 route show default",
		      getenv("RILL_SOURCE_ROOT"), dir, h, getenv("RILL_SOURCE_ROOT"), dir, h);
		cr_assert_eq(rv, 0, "host%d: %s", h, e);
		char want[80];
		snprintf(want, sizeof(want), " %s/24 ", rt_host_addr(h));
		cr_assert_not_null(strstr(o, want), "host%d has not its address:\n%s", h, o);
		cr_assert_null(strstr(o, "default"), "host%d has a default route:\n%s", h, o);
	}
	// ZooKeeper on host 1 answers host 3 at host 1's address...
	cr_assert_eq(rt_cluster("exec",
	                 "host3 -- timeout 5 bash -c 'exec 3<>/dev/tcp/%s/%s && printf ruok >&3 &&"
	                 " grep -q imok <&3'",
	                 rt_host_addr(1), strchr(rt_cluster_zk(), ':') + 1),
	    0, "host3 cannot reach ZooKeeper on host1 (%s)", rt_cluster_zk());
	// ...but nothing outside the bed is routed: TEST-NET-3 is unreachable at once.
	cr_assert_eq(rt_cluster("exec",
	                 "host2 -- timeout 5 bash -c 'exec 3<>/dev/tcp/203.0.113.1/80' 2>&1 |"
	                 " grep -q 'Network is unreachable'"),
	    0, "host2 could route beyond the bridge");
}

// A host's process answers, is cut off (its connections time out, not
// refused), answers again when healed, and `kill` leaves the host empty.
Test(hosts, cut_isolates_a_host_and_heal_and_kill_work, .init = rt_cluster_reset, .timeout = 60)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
	    "timeout 2 bash -c 'exec 3<>/dev/tcp/%s/%s && printf ruok >&3 && grep -q imok <&3'",
	    rt_host_addr(1), strchr(rt_cluster_zk(), ':') + 1);
	cr_assert_eq(rt_cluster("exec", "host4 -- %s", cmd), 0, "host4 reaches ZooKeeper");
	cr_assert_eq(rt_cluster("cut", "host4"), 0);
	cr_assert_eq(rt_cluster("exec", "host4 -- %s", cmd), 124, "host4 is cut off: a timeout");
	cr_assert_eq(rt_cluster("exec", "host3 -- %s", cmd), 0, "host3 still reaches ZooKeeper");
	cr_assert_eq(rt_cluster("heal", "host4"), 0);
	cr_assert_eq(rt_cluster("exec", "host4 -- %s", cmd), 0, "host4 reaches ZooKeeper again");

	cr_assert_eq(rt_cluster("spawn", "host4 --name sleeper -- sleep 600"), 0);
	cr_assert_eq(rt_sh("test -s %s/host4/sleeper.pid", rt_cluster_dir()), 0);
	cr_assert_eq(rt_cluster("kill", "host4"), 0);
	cr_assert_eq(rt_sh("%s/deploy/cluster.sh status --dir %s | grep -q '^host4 .* pids=$'",
	                 getenv("RILL_SOURCE_ROOT"), rt_cluster_dir()),
	    0, "a process is left on host4 after kill");
	cr_assert_eq(rt_cluster("wait", "host4 --name sleeper --timeout 5"), 125,
	    "the killed sleeper leaves no exit status");
}

// ---- rill across the hosts ----

// start_job spawns rill-driver on host 2 (available-now, 2 executors, debug
// log: every task names its executor) and an executor on hosts 3 and 4.
static void
start_job(const char *job)
{
	cr_assert_eq(rt_cluster("spawn",
	                 "host2 --name driver -- env RILL_LOG_LEVEL=debug %s --job %s"
	                 " --listen tcp://%s:%d --executors 2 --available-now",
	                 rt_bin("rill-driver"), job, rt_host_addr(2), DRIVER_PORT),
	    0, "cannot spawn the driver on host2");
	for (int h = 3; h <= 4; h++)
		cr_assert_eq(rt_cluster("spawn",
		                 "host%d --name executor -- %s --driver tcp://%s:%d"
		                 " --listen tcp://%s:0 --id host%d --cores 2",
		                 h, rt_bin("rill-executor"), rt_host_addr(2), DRIVER_PORT,
		                 rt_host_addr(h), h),
		    0, "cannot spawn the executor on host%d", h);
}

// finish_job waits for the driver's exit status (0 wanted), stops the
// executors with SIGTERM and checks that no sanitizer spoke in any log.
static void
finish_job(int timeout_s)
{
	int rv = rt_cluster("wait", "host2 --name driver --timeout %d", timeout_s);
	cr_assert_eq(rv, 0, "rill-driver on host2 exited %d:\n%s", rv, rt_host_log(2, "driver"));
	for (int h = 3; h <= 4; h++) {
		cr_assert_eq(rt_cluster("kill", "host%d --signal TERM 2>/dev/null", h), 0);
		rv = rt_cluster("wait", "host%d --name executor --timeout 30", h);
		cr_assert_eq(rv, 0, "the executor on host%d exited %d:\n%s", h, rv,
		    rt_host_log(h, "executor"));
	}
	const char *marks[]
	    = { "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:" };
	for (int h = 2; h <= 4; h++) {
		const char *log = rt_host_log(h, h == 2 ? "driver" : "executor");
		for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
			cr_assert_null(
			    strstr(log, marks[i]), "sanitizer report on host%d:\n%s", h, log);
	}
}

// lines_on counts the lines from `from` on with msg="MSG" that name
// executor `id`.
static int
lines_on(const char *from, const char *msg, const char *id)
{
	char needle[64], tag[128];
	snprintf(needle, sizeof(needle), " executor=%s ", id);
	snprintf(tag, sizeof(tag), "msg=\"%s\"", msg);
	int n = 0;
	for (const char *p = from; (p = strstr(p, tag)) != NULL; p++) {
		const char *eol = strchr(p, '\n');
		const char *at = strstr(p, needle);
		n += at != NULL && (eol == NULL || at < eol);
	}
	return n;
}

static int
tasks_on(const char *from, const char *id)
{
	return lines_on(from, "task done", id);
}

Test(cluster, wordcount_across_hosts_counts_exactly, .init = rt_cluster_reset, .timeout = 180)
{
	rt_wc       w = rt_wc_input("cluster-wc", "cluster-wc", 4, 40000, 17, true);
	const char *job = rt_wordcount_job(w.dir, "cluster-wc", "100ms", 0, "");
	start_job(job);
	finish_job(120);
	rt_wc_assert_exact(&w);

	const char *log = rt_host_log(2, "driver");
	// Each executor registered from its own host's address, and did work.
	for (int h = 3; h <= 4; h++) {
		char want[128], id[16];
		snprintf(want, sizeof(want), "id=host%d url=tcp://%s:", h, rt_host_addr(h));
		snprintf(id, sizeof(id), "host%d", h);
		cr_assert_not_null(strstr(log, want), "no registration %s in:\n%s", want, log);
		cr_assert_gt(tasks_on(log, id), 0, "no task ran on host%d:\n%s", h, log);
	}
	cr_assert_not_null(strstr(log, "result=ok"), "%s", log);
}

// Host 4 is cut off (link down) while the batches run: the driver loses it
// when its heartbeats stop, what it owed (tasks in flight, map outputs) is
// redone on host 3, which does every task from then on, and the counts stay
// exact.
Test(cluster, host_cut_mid_run_has_its_work_redone_on_another_host, .init = rt_cluster_reset,
    .timeout = 240)
{
	rt_wc w = rt_wc_input("cluster-cut", "cluster-cut", 4, 40000, 19, true);
	// 500 records/s per partition at 100 ms: 200 batches of 50 per partition,
	// run back to back (available-now); a few seconds of work.
	const char *job = rt_wordcount_job(w.dir, "cluster-cut", "100ms", 500, "");
	start_job(job);
	cr_assert(rt_wait_log(2, "driver", "msg=\"batch done\"", 3, 60000),
	    "no batch done on host2:\n%s", rt_host_log(2, "driver"));
	cr_assert_eq(rt_cluster("cut", "host4"), 0);
	finish_job(180);
	rt_wc_assert_exact(&w);

	const char *log = rt_host_log(2, "driver");
	const char *lost = strstr(log, "msg=\"executor lost\" id=host4 ");
	cr_assert_not_null(lost, "the driver did not lose host4:\n%s", log);
	cr_assert_null(strstr(log, "msg=\"executor lost\" id=host3 "), "host3 was lost:\n%s", log);
	// What host4 owed is redone on host3, one of two ways depending on where
	// the cut lands: tasks in flight on host4 fail when the driver loses it
	// (10 s without heartbeats) and are retried; or a reduce task on host3
	// fetching host4's map outputs over an established connection is told
	// then (ExecutorsLost) and gives up its fetch, and the driver recomputes
	// those outputs.
	bool retried = lines_on(log, "task attempt failed", "host4") > 0;
	bool recomputed = strstr(lost, "msg=\"recomputing lost map outputs\"") != NULL;
	cr_assert(retried || recomputed,
	    "host4's tasks were neither retried nor its map outputs recomputed:\n%s", log);
	fprintf(stderr, "cut test: host4's work was %s%s%s\n", retried ? "retried" : "",
	    retried && recomputed ? " and " : "", recomputed ? "recomputed" : "");
	cr_assert_gt(tasks_on(log, "host4"), 0, "host4 did work before the cut:\n%s", log);
	// From the loss on, every task ran on host 3, and batches went on.
	cr_assert_eq(tasks_on(lost, "host4"), 0, "a task ran on host4 after its loss:\n%s", lost);
	cr_assert_gt(tasks_on(lost, "host3"), 0, "no task ran after the loss:\n%s", lost);
	cr_assert_not_null(strstr(lost, "msg=\"batch done\""), "%s", lost);
}
