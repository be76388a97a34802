// SPDX-License-Identifier: Apache-2.0
// Supervision as a user meets it: `rill supervise` restarting small shell
// scripts, and the systemd units in deploy/systemd/ checked offline.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixtures/fixture.h"

// counter_script writes DIR/NAME: a script that counts its runs in DIR/runs
// (run N sees $n = N) and then does body.
static const char *
counter_script(const char *dir, const char *name, const char *body)
{
	const char *path = rt_write(dir, name,
	    "#!/bin/sh\n"
	    "n=$(cat %s/runs 2>/dev/null || echo 0); n=$((n + 1)); echo $n > %s/runs\n"
	    "%s\n",
	    dir, dir, body);
	cr_assert_eq(rt_sh("chmod +x %s", path), 0);
	return path;
}

static int
runs(const char *dir)
{
	char *s = rt_read(rt_path(dir, "runs"), NULL);
	int   n = s != NULL ? atoi(s) : 0;
	free(s);
	return n;
}

// delays lists the logged delay_ms values, space-separated, in order.
static const char *
delays(const char *log)
{
	static char out[1024];
	size_t      len = 0;
	out[0] = '\0';
	for (const char *p = log; (p = strstr(p, "delay_ms=")) != NULL; p++) {
		int n = snprintf(out + len, sizeof(out) - len, "%s%ld", len > 0 ? " " : "",
		    strtol(p + strlen("delay_ms="), NULL, 10));
		cr_assert(n > 0 && (size_t)n < sizeof(out) - len);
		len += (size_t)n;
	}
	return out;
}

#define SUPERVISE "RILL_LOG_LEVEL=info %s supervise"

Test(supervise, command_failing_twice_is_restarted_twice_then_exits_0, .timeout = 30)
{
	const char *dir = rt_tmpdir("sup-flaky");
	const char *cmd = counter_script(dir, "flaky.sh", "[ $n -ge 3 ] && exit 0; exit 4");
	char       *o, *e;
	int         rv = rt_sh_capture(
	            dir, &o, &e, SUPERVISE " --backoff-initial 10ms -- %s", rt_bin("rill"), cmd);
	cr_assert_eq(rv, 0, "%s", e);
	cr_assert_eq(runs(dir), 3, "%s", e);
	cr_assert_eq(rt_count(e, "msg=\"started\""), 3, "%s", e);
	cr_assert_eq(rt_count(e, "msg=\"restarting\""), 2, "%s", e);
	cr_assert_eq(rt_count(e, "status=4 "), 4, "two exits, two restarts:\n%s", e);
	cr_assert_not_null(strstr(e, "status=0 "), "%s", e);
}

Test(supervise, max_restarts_ends_with_the_commands_last_status, .timeout = 30)
{
	const char *dir = rt_tmpdir("sup-max");
	const char *cmd = counter_script(dir, "fail.sh", "exit 3");
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            SUPERVISE " --max-restarts 2 --backoff-initial 10ms -- %s", rt_bin("rill"), cmd);
	cr_assert_eq(rv, 3, "%s", e);
	cr_assert_eq(runs(dir), 3, "%s", e);
	cr_assert_not_null(strstr(e, "msg=\"giving up\""), "%s", e);
	// --max-restarts 0: one run, no restart.
	rt_sh("rm %s/runs", dir);
	rv = rt_sh_capture(dir, &o, &e, SUPERVISE " --max-restarts 0 -- %s", rt_bin("rill"), cmd);
	cr_assert_eq(rv, 3, "%s", e);
	cr_assert_eq(runs(dir), 1, "%s", e);
}

Test(supervise, child_killed_by_a_signal_is_restarted, .timeout = 30)
{
	const char *dir = rt_tmpdir("sup-killed");
	const char *cmd = counter_script(dir, "die.sh", "[ $n -eq 1 ] && kill -KILL $$; exit 0");
	char       *o, *e;
	int         rv = rt_sh_capture(
	            dir, &o, &e, SUPERVISE " --backoff-initial 10ms -- %s", rt_bin("rill"), cmd);
	cr_assert_eq(rv, 0, "%s", e);
	cr_assert_eq(runs(dir), 2, "%s", e);
	cr_assert_not_null(strstr(e, "status=137 signal=9 "), "%s", e);
	cr_assert_eq(rt_count(e, "msg=\"restarting\""), 1, "%s", e);
	// A signal death with no restarts left is reported as 128+N.
	rt_sh("rm %s/runs", dir);
	rv = rt_sh_capture(dir, &o, &e, SUPERVISE " --max-restarts 0 -- %s", rt_bin("rill"), cmd);
	cr_assert_eq(rv, 137, "%s", e);
}

Test(supervise, sigterm_reaches_the_child_which_is_not_restarted, .timeout = 30)
{
	const char *dir = rt_tmpdir("sup-term");
	const char *cmd = rt_write(dir, "trap.sh",
	    "#!/bin/sh\n"
	    "trap 'kill $sleeper; echo $$ > %s/got-term; exit 3' TERM\n"
	    "sleep 30 & sleeper=$!\n"
	    "echo $$ > %s/ready\n"
	    "wait\n",
	    dir, dir);
	rt_sh("chmod +x %s", cmd);
	char *o, *e;
	int   rv = rt_sh_capture(dir, &o, &e,
	      SUPERVISE " --backoff-initial 10ms -- %s & pid=$!;"
	                  " for i in $(seq 100); do [ -s %s/ready ] && break; sleep 0.05; done;"
	                  " kill -TERM $pid; wait $pid",
	      rt_bin("rill"), cmd, dir);
	cr_assert_eq(rv, 3, "supervise exits with the child's status:\n%s", e);
	char *ready = rt_read(rt_path(dir, "ready"), NULL);
	char *got = rt_read(rt_path(dir, "got-term"), NULL);
	cr_assert_not_null(got, "the child never saw SIGTERM:\n%s", e);
	cr_assert_str_eq(got, ready, "SIGTERM went to the supervised child");
	cr_assert_eq(rt_count(e, "msg=\"started\""), 1, "%s", e);
	cr_assert_eq(rt_count(e, "msg=\"restarting\""), 0, "%s", e);
	free(ready);
	free(got);
}

Test(supervise, ctrl_c_to_the_process_group_reaches_the_child_once, .timeout = 30)
{
	// A terminal's Ctrl-C signals the whole foreground process group; rill's
	// commands abort on a second SIGINT, so the child must get it only once,
	// forwarded. setsid puts supervise in a group of its own (as a shell with
	// job control would) and env gives it back the SIGINT that a background
	// job of a shell without job control ignores.
	const char *dir = rt_tmpdir("sup-ctrl-c");
	const char *cmd = rt_write(dir, "ints.sh",
	    "#!/bin/sh\n"
	    "trap 'echo int >> %s/ints' INT\n"
	    "sleep 1 & sleeper=$!\n"
	    "echo $$ > %s/ready\n"
	    "wait $sleeper; wait $sleeper\n" // the first wait ends at the signal
	    "exit 7\n",
	    dir, dir);
	rt_sh("chmod +x %s", cmd);
	char *o, *e;
	int   rv = rt_sh_capture(dir, &o, &e,
	      "setsid env --default-signal=INT RILL_LOG_LEVEL=info %s supervise -- %s & pid=$!;"
	        " for i in $(seq 100); do [ -s %s/ready ] && break; sleep 0.05; done;"
	        " kill -INT -$pid; wait $pid",
	      rt_bin("rill"), cmd, dir);
	cr_assert_eq(rv, 7, "%s", e);
	char *ints = rt_read(rt_path(dir, "ints"), NULL);
	cr_assert_str_eq(ints != NULL ? ints : "", "int\n", "SIGINTs the child saw:\n%s", e);
	cr_assert_eq(rt_count(e, "msg=\"started\""), 1, "%s", e);
	free(ints);
}

Test(supervise, sigterm_while_waiting_to_restart_exits_at_once, .timeout = 20)
{
	const char *dir = rt_tmpdir("sup-term-wait");
	const char *cmd = counter_script(dir, "fail.sh", "exit 5");
	char       *o, *e;
	// The 60 s backoff would outlast the test's timeout (one, should it not stop).
	int   rv = rt_sh_capture(dir, &o, &e,
	      SUPERVISE
	      " --backoff-initial 60s --max-restarts 1 -- %s 2>%s/log & pid=$!;"
	        " for i in $(seq 100); do grep -q restarting %s/log && break; sleep 0.05; done;"
	        " kill -TERM $pid; wait $pid",
	      rt_bin("rill"), cmd, dir, dir);
	char *log = rt_read(rt_path(dir, "log"), NULL);
	cr_assert_eq(rv, 5, "%s", log);
	cr_assert_eq(runs(dir), 1, "%s", log);
	cr_assert_not_null(strstr(log, "msg=\"stopped while waiting to restart\""), "%s", log);
	free(log);
}

Test(supervise, backoff_doubles_to_its_cap_and_resets_after_a_stable_run, .timeout = 30)
{
	const char *dir = rt_tmpdir("sup-backoff");
	// Runs 1-5 fail at once, run 6 fails after a stable second, run 7 at
	// once, run 8 succeeds.
	const char *cmd = counter_script(
	    dir, "flaky.sh", "[ $n -eq 8 ] && exit 0; [ $n -eq 6 ] && sleep 1; exit 1");
	char *o, *e;
	// --max-restarts 5 also holds only if the stable run starts the count afresh.
	int rv = rt_sh_capture(dir, &o, &e,
	    SUPERVISE " --backoff-initial 10ms --backoff-max 40ms --stable-after 500ms"
	              " --max-restarts 5 -- %s",
	    rt_bin("rill"), cmd);
	cr_assert_eq(rv, 0, "%s", e);
	cr_assert_eq(runs(dir), 8, "%s", e);
	cr_assert_str_eq(delays(e), "10 20 40 40 40 10 20", "%s", e);
}

Test(supervise, command_that_cannot_be_executed_exits_127_or_126)
{
	const char *dir = rt_tmpdir("sup-noexec");
	char       *o, *e;
	cr_assert_eq(
	    rt_sh_capture(dir, &o, &e, SUPERVISE " -- %s/no-such-program", rt_bin("rill"), dir),
	    127, "%s", e);
	cr_assert_not_null(strstr(e, "rill supervise: cannot execute"), "%s", e);
	cr_assert_not_null(strstr(e, "No such file or directory"), "%s", e);
	cr_assert_eq(rt_count(e, "msg=\"started\""), 0, "%s", e);
	// Found in no PATH directory.
	cr_assert_eq(
	    rt_sh_capture(dir, &o, &e, SUPERVISE " -- rill-no-such-program", rt_bin("rill")), 127);
	// A directory is found but cannot be executed.
	cr_assert_eq(rt_sh_capture(dir, &o, &e, SUPERVISE " -- %s", rt_bin("rill"), dir), 126);
	cr_assert_not_null(strstr(e, "Permission denied"), "%s", e);
}

Test(supervise, command_runs_with_the_default_sigpipe)
{
	// rill ignores SIGPIPE; a child that inherited that would see EPIPE
	// ("Broken pipe") where a shell's child is killed quietly.
	const char *dir = rt_tmpdir("sup-sigpipe");
	char       *o, *e;
	int         rv = rt_sh_capture(
	            dir, &o, &e, SUPERVISE " -- sh -c 'yes | head -n 1 >/dev/null'", rt_bin("rill"));
	cr_assert_eq(rv, 0, "%s", e);
	cr_assert_null(strstr(e, "Broken pipe"), "%s", e);
}

Test(supervise, usage_errors_exit_2_and_help_exits_0)
{
	const char *dir = rt_tmpdir("sup-usage");
	const char *rill = rt_bin("rill");
	char       *o, *e;
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s supervise --help", rill), 0);
	cr_assert_not_null(strstr(o, "usage: rill supervise [--max-restarts N]"), "%s", o);
	cr_assert_not_null(strstr(o, "--backoff-initial DUR"), "%s", o);
	struct {
		const char *args, *says;
	} bad[] = {
		{ "", "a COMMAND after '--' is required" },
		{ "--", "a COMMAND after '--' is required" },
		{ "--max-restarts 2", "a COMMAND after '--' is required" },
		{ "true", "unexpected argument 'true': COMMAND goes after '--'" },
		{ "--max-restarts -1 -- true", "--max-restarts: '-1' is not a number" },
		{ "--max-restarts -- true", "option '--max-restarts' needs an argument" },
		{ "--backoff-initial soon -- true", "--backoff-initial: 'soon' is not a duration" },
		{ "--backoff-initial 1s --backoff-max 10ms -- true",
		    "--backoff-max must not be shorter than --backoff-initial" },
		{ "--restart-forever -- true", "unknown option '--restart-forever'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s supervise %s", rill, bad[i].args), 2,
		    "rill supervise %s:\n%s", bad[i].args, e);
		cr_assert_not_null(strstr(e, bad[i].says), "rill supervise %s: wanted '%s' in:\n%s",
		    bad[i].args, bad[i].says, e);
	}
	// Options after "--" are COMMAND's.
	cr_assert_eq(rt_sh_capture(dir, &o, &e, "%s supervise -- echo --max-restarts", rill), 0);
	cr_assert_str_eq(o, "--max-restarts\n");
}

Test(systemd, units_verify_without_warnings, .timeout = 60)
{
	const char *dir = rt_tmpdir("systemd");
	const char *src = getenv("RILL_SOURCE_ROOT");
	cr_assert_not_null(src, "RILL_SOURCE_ROOT is not set: run the tests with meson test");
	const char *units[] = { "driver", "executor" };
	for (size_t i = 0; i < 2; i++) {
		// verify wants ExecStart's program to exist: the built one stands in
		// for the installed one.
		char name[64];
		snprintf(name, sizeof(name), "rill-%s", units[i]);
		cr_assert_eq(rt_sh("sed 's|^ExecStart=/usr/local/bin/%s |ExecStart=%s |'"
		                   " %s/deploy/systemd/%s.service > %s/%s.service",
		                 name, rt_bin(name), src, name, dir, name),
		    0);
		cr_assert_eq(
		    rt_sh("grep -q '^ExecStart=%s --zk ' %s/%s.service", rt_bin(name), dir, name),
		    0, "%s.service does not start /usr/local/bin/%s --zk", name, name);
	}
	char *o, *e;
	int   rv = rt_sh_capture(dir, &o, &e,
	      "cd %s && systemd-analyze verify %s/rill-driver.service %s/rill-executor.service", dir,
	      dir, dir);
	cr_assert_eq(rv, 0, "systemd-analyze verify:\n%s%s", o, e);
	// verify exits 0 after most warnings (an unknown key, a bad value):
	// any line about our units fails the test.
	cr_assert_null(strstr(e, "rill-"), "systemd-analyze verify:\n%s", e);
	cr_assert_null(strstr(o, "rill-"), "systemd-analyze verify:\n%s", o);
	// Every variable the units use is in the sample environment file.
	rv = rt_sh_capture(dir, &o, &e,
	    "cd %s/deploy/systemd && for v in $(grep -oh 'RILL_[A-Z_]*' *.service | sort -u); do"
	    " grep -q \"^$v=\" cluster.env.example || echo \"missing $v\"; done",
	    src);
	cr_assert_eq(rv, 0, "%s", e);
	cr_assert_str_eq(o, "", "cluster.env.example lacks what the units use:\n%s", o);
}
