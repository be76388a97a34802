// SPDX-License-Identifier: Apache-2.0
// `rill supervise`: runs a command and restarts it, with exponential backoff,
// whenever it fails.
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cmdline.h"
#include "common/log.h"
#include "common/time.h"
#include "driver/cli/cli.h"

// Exit codes of a command that cannot be run, as a shell has them.
enum { EXIT_NOT_EXECUTABLE = 126, EXIT_NOT_FOUND = 127 };

typedef struct supervise_opts {
	int     max_restarts; // restarts in a row before giving up; -1: unlimited
	int64_t backoff_initial_ms; // the first restart's delay
	int64_t backoff_max_ms; // the delay doubles up to this
	int64_t stable_after_ms; // a run this long resets the delay and the count
} supervise_opts;

// status_code is a wait status as a shell reports it: the exit code, or
// 128+N for death by signal N.
static int
status_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return RL_EXIT_FAILURE;
}

// spawn starts command in a process group of its own (so that a terminal's
// Ctrl-C reaches it only through us, once), with child_mask as its signal
// mask and SIGPIPE (which rill ignores) back at its default. Returns 0 and
// writes *ret_pid, or the errno of the failed start (ENOENT: no such program).
static int
spawn(char *const *command, const sigset_t *child_mask, pid_t *ret_pid)
{
	posix_spawnattr_t attr;
	int               rv = posix_spawnattr_init(&attr);
	if (rv != 0)
		return rv;
	sigset_t to_default;
	sigemptyset(&to_default);
	sigaddset(&to_default, SIGPIPE);
	sigaddset(&to_default, SIGCHLD);
	pid_t pid;
	if ((rv = posix_spawnattr_setsigdefault(&attr, &to_default)) != 0
	    || (rv = posix_spawnattr_setsigmask(&attr, child_mask)) != 0
	    || (rv = posix_spawnattr_setpgroup(&attr, 0)) != 0
	    || (rv = posix_spawnattr_setflags(
	            &attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
	        != 0)
		goto err_attr;
	rv = posix_spawnp(&pid, command[0], NULL, &attr, command, environ);
	if (rv == 0)
		*ret_pid = pid;
err_attr:
	posix_spawnattr_destroy(&attr);
	return rv;
}

// reap collects every exited child without blocking (orphans too, should we
// run as PID 1 in a container). Returns 1 and writes *ret_wstatus when pid
// was among them, 0 when pid runs on, -1 when we have no child left at all.
static int
reap(pid_t pid, int *ret_wstatus)
{
	int found = 0;
	for (;;) {
		int   wstatus;
		pid_t r = waitpid(-1, &wstatus, WNOHANG);
		if (r == 0)
			return found;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) // ECHILD
			return found ? 1 : -1;
		if (r == pid) {
			*ret_wstatus = wstatus;
			found = 1;
		}
	}
}

// wait_child waits for pid to end, forwarding SIGINT and SIGTERM to it (the
// last one forwarded goes to *stop_signal). watched holds SIGCHLD, SIGINT and
// SIGTERM, all blocked. Returns false if pid vanished without a status.
static bool
wait_child(pid_t pid, const sigset_t *watched, int *stop_signal, int *ret_wstatus)
{
	for (;;) {
		int reaped = reap(pid, ret_wstatus);
		if (reaped != 0)
			return reaped > 0;
		int sig = sigwaitinfo(watched, NULL);
		if (sig == SIGINT || sig == SIGTERM) {
			rl_info(
			    "supervise", "forwarding signal", "pid=%d signal=%d", (int)pid, sig);
			*stop_signal = sig;
			kill(pid, sig);
		}
	}
}

// pause_for waits delay_ms; SIGINT or SIGTERM cuts it short and is returned,
// else 0.
static int
pause_for(const sigset_t *watched, int64_t delay_ms)
{
	int64_t deadline = rl_mono_ms() + delay_ms;
	for (;;) {
		int64_t left = deadline - rl_mono_ms();
		if (left <= 0)
			return 0;
		struct timespec ts = { .tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000 };
		int             sig = sigtimedwait(watched, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM)
			return sig;
		if (sig == SIGCHLD) {
			int ignored;
			reap(0, &ignored); // an orphan's: pid 0 matches no child
		}
	}
}

// supervise runs command until it exits 0, a stop signal ends it, it cannot
// be executed or the restarts run out; returns rill supervise's exit code.
static int
supervise(char *const *command, const supervise_opts *o)
{
	// An inherited SIG_IGN for SIGCHLD would make the kernel reap the child
	// for us, and waitpid would never see its status.
	signal(SIGCHLD, SIG_DFL);
	sigset_t watched, child_mask;
	sigemptyset(&watched);
	sigaddset(&watched, SIGCHLD);
	sigaddset(&watched, SIGINT);
	sigaddset(&watched, SIGTERM);
	// Blocked signals are taken with sigwaitinfo: no handlers, no races
	// between a signal and the wait. The child starts with our old mask.
	sigprocmask(SIG_BLOCK, &watched, &child_mask);

	int     restarts = 0; // in a row, since the last stable run
	int     stop_signal = 0;
	int64_t delay_ms = o->backoff_initial_ms;
	for (;;) {
		pid_t   pid;
		int64_t started_ms = rl_mono_ms();
		int     rv = spawn(command, &child_mask, &pid);
		if (rv != 0) {
			fprintf(stderr, "rill supervise: cannot execute '%s': %s\n", command[0],
			    strerror(rv));
			return rv == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
		}
		rl_info("supervise", "started", "pid=%d restarts=%d cmd=\"%s\"", (int)pid, restarts,
		    command[0]);
		int wstatus;
		if (!wait_child(pid, &watched, &stop_signal, &wstatus)) {
			rl_error(
			    "supervise", "child vanished without a status", "pid=%d", (int)pid);
			return RL_EXIT_FAILURE;
		}
		int64_t ran_ms = rl_mono_ms() - started_ms;
		int     status = status_code(wstatus);
		rl_log(status == 0 ? RL_LOG_INFO : RL_LOG_WARN, "supervise", "exited",
		    "pid=%d status=%d signal=%d ran_ms=%lld", (int)pid, status,
		    WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0, (long long)ran_ms);
		if (status == 0 || stop_signal != 0)
			return status;
		if (ran_ms >= o->stable_after_ms) {
			restarts = 0;
			delay_ms = o->backoff_initial_ms;
		}
		if (o->max_restarts >= 0 && restarts >= o->max_restarts) {
			rl_error("supervise", "giving up", "pid=%d status=%d restarts=%d", (int)pid,
			    status, restarts);
			return status;
		}
		restarts++;
		rl_info("supervise", "restarting", "pid=%d status=%d delay_ms=%lld restart=%d",
		    (int)pid, status, (long long)delay_ms, restarts);
		if ((stop_signal = pause_for(&watched, delay_ms)) != 0) {
			rl_info("supervise", "stopped while waiting to restart",
			    "signal=%d status=%d", stop_signal, status);
			return status;
		}
		delay_ms = delay_ms * 2 < o->backoff_max_ms ? delay_ms * 2 : o->backoff_max_ms;
	}
}

int
rl_cmd_supervise(const rl_cli_command *cmd, int argc, char **argv)
{
	supervise_opts o = {
		.max_restarts = -1,
		.backoff_initial_ms = 100,
		.backoff_max_ms = 0, // unset: 30 s, or the initial delay if longer
		.stable_after_ms = 60000,
	};
	const rl_opt optv[] = {
		RL_OPT_INT("max-restarts", &o.max_restarts, "N", 0, INT_MAX,
		    "give up after N restarts in a row, exiting with COMMAND's status (default: "
		    "never)"),
		RL_OPT_DURATION("backoff-initial", &o.backoff_initial_ms, "DUR",
		    "the first restart's delay; each next one doubles it (default 100ms)"),
		RL_OPT_DURATION("backoff-max", &o.backoff_max_ms, "DUR",
		    "the longest delay between restarts (default 30s, or --backoff-initial if "
		    "longer)"),
		RL_OPT_DURATION("stable-after", &o.stable_after_ms, "DUR",
		    "a run at least this long resets the delay and the count of restarts "
		    "(default 60s)"),
		RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = "rill supervise",
		.synopsis = cmd->usage,
		.about
		= "Runs COMMAND and restarts it when it exits non-zero or dies by a signal,\n"
		  "waiting between restarts with exponential backoff. Exits 0 when COMMAND exits "
		  "0.\n"
		  "SIGINT and SIGTERM are forwarded to COMMAND, which is then not restarted:\n"
		  "rill supervise exits with its status (128+N for death by signal N).\n",
		.opts = optv,
		.epilog = "A COMMAND that cannot be executed exits 127 (not found) or 126, as in a "
		          "shell,\nand is not retried.\n",
		.max_operands = INT_MAX,
	};
	// The options end at "--": everything after it is COMMAND's, its options too.
	int dashes = 0;
	for (int i = 1; i < argc && dashes == 0; i++)
		if (strcmp(argv[i], "--") == 0)
			dashes = i;
	int               first;
	rl_cmdline_result r = rl_cmdline_parse(&cl, dashes > 0 ? dashes : argc, argv, &first);
	if (r != RL_CMDLINE_OK)
		return r == RL_CMDLINE_HELP ? RL_EXIT_OK : RL_EXIT_USAGE;
	if (first < (dashes > 0 ? dashes : argc)) {
		rl_cmdline_error(
		    &cl, "unexpected argument '%s': COMMAND goes after '--'", argv[first]);
		return RL_EXIT_USAGE;
	}
	if (dashes == 0 || dashes + 1 == argc) {
		rl_cmdline_error(&cl, "a COMMAND after '--' is required");
		return RL_EXIT_USAGE;
	}
	if (o.backoff_max_ms == 0)
		o.backoff_max_ms = o.backoff_initial_ms > 30000 ? o.backoff_initial_ms : 30000;
	if (o.backoff_max_ms < o.backoff_initial_ms) {
		rl_cmdline_error(&cl, "--backoff-max must not be shorter than --backoff-initial");
		return RL_EXIT_USAGE;
	}
	return supervise(argv + dashes + 1, &o);
}
