// SPDX-License-Identifier: Apache-2.0
// driver/election against a real ZooKeeper server (fixtures/zk_hooks.c starts it
// once for all tests of this binary): one leader at a time, epochs, leases, fencing.
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/time.h"
#include "common/zk.h"
#include "driver/election.h"
#include "tests/fixtures/fixture.h"

#define CONNECT_MS 10000

static rl_zk *
session(int session_ms)
{
	char   err[512] = "";
	rl_zk *zk = NULL;
	rl_err rv = rl_zk_connect(rt_zk(), session_ms, CONNECT_MS, &zk, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "connect %s: %s: %s", rt_zk(), rl_errname(rv), err);
	return zk;
}

// fresh_job empties /rill/jobs/<job>.
static void
fresh_job(rl_zk *zk, const char *job)
{
	char path[256], err[512] = "";
	snprintf(path, sizeof(path), "/rill/jobs/%s", job);
	rl_err rv = rl_zk_delete(zk, path, true, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
}

static rl_election *
join_leased(rl_zk *zk, const char *job, const char *url, int lease_ms)
{
	char               err[512] = "";
	rl_election       *e = NULL;
	rl_election_config c
	    = { .job = job, .url = url, .http = "127.0.0.1:8080", .lease_ms = lease_ms };
	rl_err rv = rl_election_join(zk, &c, &e, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "join %s as %s: %s: %s", job, url, rl_errname(rv), err);
	return e;
}

static rl_election *
join(rl_zk *zk, const char *job, const char *url)
{
	return join_leased(zk, job, url, 0);
}

static const char *
event_name(rl_election_event_type t)
{
	switch (t) {
	case RL_ELECTION_NONE:
		return "NONE";
	case RL_ELECTION_STANDBY:
		return "STANDBY";
	case RL_ELECTION_ELECTED:
		return "ELECTED";
	case RL_ELECTION_LOST:
		return "LOST";
	case RL_ELECTION_EXPIRED:
		return "EXPIRED";
	}
	return "?";
}

// expect polls e for up to timeout_ms and asserts the next event is type.
static rl_election_event
expect(rl_election *e, rl_election_event_type type, int timeout_ms, const char *who)
{
	rl_election_event ev;
	rl_err            rv = rl_election_poll(e, timeout_ms, &ev);
	cr_assert_eq(
	    rv, RL_OK, "%s: no event within %d ms (wanted %s)", who, timeout_ms, event_name(type));
	cr_assert_eq(
	    ev.type, type, "%s: got %s, wanted %s", who, event_name(ev.type), event_name(type));
	return ev;
}

static void
quiet(rl_election *e, int timeout_ms, const char *who)
{
	rl_election_event ev;
	rl_err            rv = rl_election_poll(e, timeout_ms, &ev);
	cr_assert_eq(rv, RL_ERR_TIMEDOUT, "%s: unexpected %s (epoch %lld)", who,
	    event_name(ev.type), (long long)ev.epoch);
}

static void
close_candidate(rl_election *e, rl_zk *zk)
{
	rl_election_destroy(e);
	rl_zk_close(zk);
}

// ---- tests ----

Test(election, two_candidates_one_leads_the_other_stands_by)
{
	rl_zk *za = session(3000), *zb = session(3000);
	fresh_job(za, "two");
	rl_election      *a = join(za, "two", "tcp://a:1");
	rl_election_event ev = expect(a, RL_ELECTION_ELECTED, 5000, "a");
	cr_assert_eq(ev.epoch, 1, "a fresh job's first epoch");
	cr_assert(rl_election_in_charge(a));
	rl_election *b = join(zb, "two", "tcp://b:1");
	expect(b, RL_ELECTION_STANDBY, 5000, "b");
	cr_assert_not(rl_election_in_charge(b));
	cr_assert_str_eq(rl_election_watching(b), rl_election_node(a));
	quiet(a, 300, "a");
	quiet(b, 0, "b");

	char             err[512] = "";
	rl_election_view v;
	rl_err           rv = rl_election_query(za, "two", &v, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_str_eq(v.leader_url, "tcp://a:1");
	cr_assert_str_eq(v.leader_http, "127.0.0.1:8080");
	cr_assert_eq(v.leader_epoch, 1);
	cr_assert_eq(v.epoch, 1);
	cr_assert_eq(v.standby_count, 1);
	cr_assert_str_eq(v.standby_urls[0], "tcp://b:1");
	rl_election_view_fini(&v);

	// The leader's session ends: the other leads, with a higher epoch.
	int64_t t0 = rl_mono_ms();
	close_candidate(a, za);
	ev = expect(b, RL_ELECTION_ELECTED, 5000, "b");
	cr_assert_eq(ev.epoch, 2);
	cr_assert_lt(rl_mono_ms() - t0, 1000, "a closed session's node goes at once");
	cr_assert(rl_election_in_charge(b));
	rv = rl_election_query(zb, "two", &v, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_str_eq(v.leader_url, "tcp://b:1");
	cr_assert_eq(v.leader_epoch, 2);
	cr_assert_eq(v.standby_count, 0);
	rl_election_view_fini(&v);
	close_candidate(b, zb);

	// Nobody in line: no leader, the epoch stays.
	rl_zk *zq = session(3000);
	rv = rl_election_query(zq, "two", &v, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_null(v.leader_url);
	cr_assert_eq(v.epoch, 2);
	rl_election_view_fini(&v);
	rl_zk_close(zq);
}

// A host that polls many elections with timeout 0 (the daemon) must still
// see a watch that fired: poll drains the election's queue without waiting.
Test(election, poll_without_waiting_sees_the_predecessor_go)
{
	rl_zk *za = session(3000), *zb = session(3000);
	fresh_job(za, "nowait");
	rl_election *a = join(za, "nowait", "tcp://a:1");
	expect(a, RL_ELECTION_ELECTED, 5000, "a");
	rl_election *b = join(zb, "nowait", "tcp://b:1");
	expect(b, RL_ELECTION_STANDBY, 5000, "b");
	close_candidate(a, za);
	rl_election_event ev = { .type = RL_ELECTION_NONE };
	int64_t           deadline = rl_mono_ms() + 5000;
	while (rl_election_poll(b, 0, &ev) != RL_OK) {
		cr_assert_lt(rl_mono_ms(), deadline, "b never saw a go polling with timeout 0");
		rl_sleep_ms(10);
	}
	cr_assert_eq(ev.type, RL_ELECTION_ELECTED, "got %s", event_name(ev.type));
	cr_assert_eq(ev.epoch, 2);
	close_candidate(b, zb);
}

Test(election, each_candidate_watches_only_its_predecessor)
{
	rl_zk *z[3] = { session(3000), session(3000), session(3000) };
	fresh_job(z[0], "three");
	rl_election *a = join(z[0], "three", "tcp://a:1");
	expect(a, RL_ELECTION_ELECTED, 5000, "a");
	rl_election *b = join(z[1], "three", "tcp://b:1");
	expect(b, RL_ELECTION_STANDBY, 5000, "b");
	rl_election *c = join(z[2], "three", "tcp://c:1");
	expect(c, RL_ELECTION_STANDBY, 5000, "c");
	cr_assert_str_eq(rl_election_watching(b), rl_election_node(a));
	cr_assert_str_eq(rl_election_watching(c), rl_election_node(b));
	// One watch each: the leader on its own node, the others on their predecessor.
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rl_zk_watch_count(z[i]), 1, "candidate %d has %zu watches", i,
		    rl_zk_watch_count(z[i]));

	// The leader goes: only b hears of it; c's watch on b does not fire.
	close_candidate(a, z[0]);
	rl_election_event ev = expect(b, RL_ELECTION_ELECTED, 5000, "b");
	cr_assert_eq(ev.epoch, 2);
	quiet(c, 500, "c");
	cr_assert_str_eq(rl_election_watching(c), rl_election_node(b));
	cr_assert_eq(rl_zk_watch_count(z[2]), 1, "c's watch on b fired");
	cr_assert_not(rl_election_in_charge(c));
	close_candidate(b, z[1]);
	close_candidate(c, z[2]);
}

Test(election, a_middle_candidate_leaving_relinks_the_line_and_keeps_the_leader)
{
	rl_zk *z[3] = { session(3000), session(3000), session(3000) };
	fresh_job(z[0], "middle");
	rl_election      *a = join(z[0], "middle", "tcp://a:1");
	rl_election_event ev = expect(a, RL_ELECTION_ELECTED, 5000, "a");
	int64_t           epoch = ev.epoch;
	rl_election      *b = join(z[1], "middle", "tcp://b:1");
	expect(b, RL_ELECTION_STANDBY, 5000, "b");
	rl_election *c = join(z[2], "middle", "tcp://c:1");
	expect(c, RL_ELECTION_STANDBY, 5000, "c");

	char   err[512] = "";
	rl_err rv = rl_election_resign(b, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	// c re-links to a without a new event; a hears nothing and keeps its epoch.
	quiet(c, 500, "c");
	cr_assert_str_eq(rl_election_watching(c), rl_election_node(a));
	cr_assert_eq(rl_zk_watch_count(z[2]), 1);
	quiet(a, 0, "a");
	cr_assert(rl_election_in_charge(a));
	cr_assert_eq(rl_election_epoch(a), epoch);
	rl_election_view v;
	rv = rl_election_query(z[0], "middle", &v, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_str_eq(v.leader_url, "tcp://a:1");
	cr_assert_eq(v.standby_count, 1);
	cr_assert_str_eq(v.standby_urls[0], "tcp://c:1");
	rl_election_view_fini(&v);

	// The leader resigns: c leads next, at once.
	int64_t t0 = rl_mono_ms();
	rv = rl_election_resign(a, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	ev = expect(c, RL_ELECTION_ELECTED, 5000, "c");
	cr_assert_gt(ev.epoch, epoch);
	cr_assert_lt(rl_mono_ms() - t0, 1000);
	rv = rl_election_query(z[0], "middle", &v, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_str_eq(v.leader_url, "tcp://c:1");
	cr_assert_eq(v.leader_epoch, ev.epoch);
	rl_election_view_fini(&v);
	close_candidate(a, z[0]);
	close_candidate(b, z[1]);
	close_candidate(c, z[2]);
}

Test(election, lease_is_lost_before_the_session_could_expire_and_regained_after, .timeout = 60)
{
	// A lease well inside the client's own 2/3 disconnect timer: the lease, not
	// the connection state, must end the leadership.
	enum { SESSION = 4000, LEASE = 1500 };
	rl_zk *za = session(SESSION), *zb = session(SESSION);
	fresh_job(za, "lease");
	rl_election      *a = join_leased(za, "lease", "tcp://a:1", LEASE);
	rl_election_event ev = expect(a, RL_ELECTION_ELECTED, 5000, "a");
	int64_t           epoch = ev.epoch;
	rl_election      *b = join(zb, "lease", "tcp://b:1");
	expect(b, RL_ELECTION_STANDBY, 5000, "b");
	rl_sleep_ms(500);

	rt_zk_signal(SIGSTOP);
	int64_t stopped = rl_mono_ms();
	rl_err  rv = rl_election_poll(a, SESSION, &ev);
	int64_t lost_after = rl_mono_ms() - stopped;
	bool    in_charge = rl_election_in_charge(a);
	rt_zk_signal(SIGCONT);
	cr_assert_eq(rv, RL_OK, "a kept its lease %d ms into a stopped server", SESSION);
	cr_assert_eq(ev.type, RL_ELECTION_LOST, "got %s", event_name(ev.type));
	cr_assert_eq(ev.epoch, epoch);
	cr_assert_not(in_charge);
	// Lost within the lease since last heard (a heartbeat's period before the
	// stop at most, plus a round trip), long before the client disconnects.
	cr_assert_lt(lost_after, LEASE + SESSION / 10 + 150, "lost %lld ms after the stop",
	    (long long)lost_after);
	cr_assert_geq(lost_after, LEASE - SESSION / 10 - 100, "lost %lld ms after the stop",
	    (long long)lost_after);

	// The server is back before the session could expire: a leads again, with
	// a new epoch; b stays in line.
	ev = expect(a, RL_ELECTION_ELECTED, 10000, "a");
	cr_assert_eq(ev.epoch, epoch + 1);
	cr_assert(rl_election_in_charge(a));
	quiet(b, 500, "b");
	cr_assert_not(rl_zk_expired(za));
	close_candidate(a, za);
	ev = expect(b, RL_ELECTION_ELECTED, 5000, "b");
	cr_assert_eq(ev.epoch, epoch + 2);
	close_candidate(b, zb);
}

// The leader lives in a child process that is stopped for longer than its
// session timeout. The other candidate must lead with a higher epoch, and the
// child, once resumed, must find itself out of charge before any event, then
// see LOST and EXPIRED. Child exit codes: 0 ok, 2 setup, 3 still in charge
// after the pause, 4 wrong events.
Test(election, paused_leader_is_out_of_charge_when_it_resumes, .timeout = 60)
{
	enum { SESSION = 2000 };
	// Fork while this process runs no ZooKeeper thread: a child forked from a
	// thread-holding parent can hang on a lock some thread held (seen once in
	// 300 s of waitpid). The clean-up session is closed, and its threads
	// joined, before the fork; b's session is made after it.
	rl_zk *admin = session(SESSION);
	fresh_job(admin, "paused");
	rl_zk_close(admin);
	int   ready[2];
	pid_t child = rt_fork_ready(ready);
	if (child == 0) {
		char               err[512] = "";
		rl_zk             *za = NULL;
		rl_election       *a = NULL;
		rl_election_config c = { .job = "paused", .url = "tcp://a:1" };
		rl_election_event  ev;
		if (rl_zk_connect(rt_zk(), SESSION, CONNECT_MS, &za, err, sizeof(err)) != RL_OK
		    || rl_election_join(za, &c, &a, err, sizeof(err)) != RL_OK
		    || rl_election_poll(a, 5000, &ev) != RL_OK || ev.type != RL_ELECTION_ELECTED
		    || write(ready[1], "r", 1) != 1)
			_exit(2);
		// Act while in charge; the pause comes somewhere in this loop.
		for (int i = 0; i < 2000 && rl_election_in_charge(a); i++)
			rl_sleep_ms(5);
		if (rl_election_in_charge(a))
			_exit(3);
		int code = 0;
		if (rl_election_poll(a, 5000, &ev) != RL_OK || ev.type != RL_ELECTION_LOST)
			code = 4;
		if (code == 0
		    && (rl_election_poll(a, 5000, &ev) != RL_OK || ev.type != RL_ELECTION_EXPIRED))
			code = 4;
		rl_election_destroy(a);
		rl_zk_close(za);
		_exit(code);
	}
	rt_child_ready(ready, child, "lead");
	rl_zk       *zb = session(SESSION);
	rl_election *b = join(zb, "paused", "tcp://b:1");
	expect(b, RL_ELECTION_STANDBY, 5000, "b");
	kill(child, SIGSTOP);
	int64_t           stopped = rl_mono_ms();
	rl_election_event ev;
	rl_err            rv = rl_election_poll(b, 4 * SESSION, &ev);
	int64_t           took = rl_mono_ms() - stopped;
	rl_sleep_ms(300);
	kill(child, SIGCONT);
	int status = 0;
	waitpid(child, &status, 0);
	cr_assert_eq(rv, RL_OK, "b did not lead within %d ms", 4 * SESSION);
	cr_assert_eq(ev.type, RL_ELECTION_ELECTED, "got %s", event_name(ev.type));
	cr_assert_eq(ev.epoch, 2);
	cr_assert_geq(
	    took, SESSION - 100, "b led %lld ms after the pause, before expiry", (long long)took);
	cr_assert(WIFEXITED(status), "child died of signal %d", WTERMSIG(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child exit %d (3: in charge after the pause)",
	    WEXITSTATUS(status));
	close_candidate(b, zb);
}

Test(election, a_deposed_leaders_fenced_write_fails_and_the_new_leaders_succeeds)
{
	rl_zk *za = session(3000), *zb = session(3000), *admin = session(3000);
	fresh_job(za, "fence");
	rl_election      *a = join(za, "fence", "tcp://a:1");
	rl_election_event ev = expect(a, RL_ELECTION_ELECTED, 5000, "a");
	rl_election      *b = join(zb, "fence", "tcp://b:1");
	expect(b, RL_ELECTION_STANDBY, 5000, "b");
	char   err[512] = "";
	rl_err rv = rl_zk_set(admin, "/rill/jobs/fence/log/1", "", 0, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);

	// a's node is deleted behind its back: b leads while a has not noticed.
	rv = rl_zk_delete(admin, rl_election_node(a), false, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	rl_election_event eb = expect(b, RL_ELECTION_ELECTED, 5000, "b");
	cr_assert_gt(eb.epoch, ev.epoch);

	rl_zk_op from_a[] = {
		rl_election_fence(a),
		rl_zk_op_set("/rill/jobs/fence/log/1", "a", 1, -1),
	};
	size_t failed = 9;
	rv = rl_zk_multi(za, from_a, 2, &failed, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_STALE_EPOCH, "%s: %s", rl_errname(rv), err);
	cr_assert_eq(failed, 0);
	rl_zk_op from_b[] = {
		rl_election_fence(b),
		rl_zk_op_set("/rill/jobs/fence/log/1", "b", 1, -1),
	};
	rv = rl_zk_multi(zb, from_b, 2, &failed, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	char *v = NULL;
	rv = rl_zk_get(admin, "/rill/jobs/fence/log/1", &v, NULL, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "%s: %s", rl_errname(rv), err);
	cr_assert_str_eq(v, "b");
	rl_free(v);

	// a learns it was deposed (its own node's watch), and queues up again.
	expect(a, RL_ELECTION_LOST, 5000, "a");
	cr_assert_not(rl_election_in_charge(a));
	expect(a, RL_ELECTION_STANDBY, 5000, "a");
	cr_assert_str_eq(rl_election_watching(a), rl_election_node(b));
	close_candidate(a, za);
	close_candidate(b, zb);
	rl_zk_close(admin);
}

Test(election, bad_job_names_and_leases_are_inval)
{
	rl_zk       *zk = session(3000);
	char         err[512] = "";
	rl_election *e = NULL;
	const char  *bad[] = { "", "a/b", ".." };
	for (size_t i = 0; i < 3; i++) {
		rl_election_config c = { .job = bad[i], .url = "u" };
		rl_err             rv = rl_election_join(zk, &c, &e, err, sizeof(err));
		cr_expect_eq(rv, RL_ERR_INVAL, "\"%s\": %s", bad[i], rl_errname(rv));
	}
	rl_election_config c = { .job = "ok", .url = "u", .lease_ms = 3000 };
	rl_err             rv = rl_election_join(zk, &c, &e, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_INVAL, "%s: %s", rl_errname(rv), err);
	cr_assert_not_null(strstr(err, "session timeout"), "%s", err);
	cr_assert_null(e);
	rl_zk_close(zk);
}
