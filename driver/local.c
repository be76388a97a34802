// SPDX-License-Identifier: Apache-2.0
// Spawning and reaping local executor processes.
#include "driver/local.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/time.h"

struct rl_local {
	pid_t *l_pids;
	int    l_n;
};

rl_err
rl_local_find_executor(char *buf, size_t len, char *errbuf, size_t errlen)
{
	if (buf == NULL || len == 0)
		return RL_ERR_INVAL;
	const char *env = getenv("RILL_EXECUTOR_BIN");
	if (env != NULL) {
		snprintf(buf, len, "%s", env);
		return access(buf, X_OK) == 0
		    ? RL_OK
		    : (snprintf(errbuf, errlen, "RILL_EXECUTOR_BIN=%s is not executable: %s", env,
		           strerror(errno)),
		        RL_ERR_NOENT);
	}
	char    self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *dir = dirname(self);
		// Installed side by side, or in the build tree's executor/.
		snprintf(buf, len, "%s/rill-executor", dir);
		if (access(buf, X_OK) == 0)
			return RL_OK;
		snprintf(buf, len, "%s/../executor/rill-executor", dir);
		if (access(buf, X_OK) == 0)
			return RL_OK;
	}
	snprintf(errbuf, errlen, "cannot find rill-executor beside %s; set RILL_EXECUTOR_BIN",
	    n > 0 ? self : "this program");
	return RL_ERR_NOENT;
}

rl_err
rl_local_start(
    const char *driver_url, int n, int cores, rl_local **ret, char *errbuf, size_t errlen)
{
	char   exe[4096];
	rl_err rv = rl_local_find_executor(exe, sizeof(exe), errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	rl_local *local = RL_NEW(rl_local);
	local->l_pids = rl_calloc((size_t)n, sizeof(pid_t));
	pid_t parent = getpid();
	// The executors prove the driver's cluster secret: they read its file.
	const rl_secret *secret = rl_secret_current();
	const char      *secret_file
	    = secret != NULL && secret->s_path[0] != '\0' ? secret->s_path : NULL;
	for (int i = 0; i < n; i++) {
		char id[32], cores_s[16];
		snprintf(id, sizeof(id), "local-%d", i);
		snprintf(cores_s, sizeof(cores_s), "%d", cores);
		pid_t pid = fork();
		if (pid < 0) {
			snprintf(
			    errbuf, errlen, "cannot start executor %d: %s", i, strerror(errno));
			rl_local_stop(local);
			return RL_ERR_IO;
		}
		if (pid == 0) {
			// A process group of its own: the terminal's Ctrl-C stops the
			// driver gracefully, and the executors finish the batch in
			// flight. They still die with the driver (PDEATHSIG).
			setpgid(0, 0);
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(1);
			char *argv[] = { exe, "--driver", (char *)(uintptr_t)driver_url, "--listen",
				"tcp://127.0.0.1:0", "--cores", cores_s, "--id", id,
				"--exit-with-driver", NULL, NULL, NULL };
			if (secret_file != NULL) {
				argv[10] = "--secret-file";
				argv[11] = (char *)(uintptr_t)secret_file;
			}
			execv(exe, argv);
			fprintf(stderr, "rill: cannot run %s: %s\n", exe, strerror(errno));
			_exit(127);
		}
		local->l_pids[local->l_n++] = pid;
	}
	*ret = local;
	return RL_OK;
}

void
rl_local_stop(rl_local *local)
{
	if (local == NULL)
		return;
	for (int i = 0; i < local->l_n; i++)
		kill(local->l_pids[i], SIGTERM);
	int64_t deadline = rl_mono_ms() + 5000;
	for (int i = 0; i < local->l_n; i++) {
		int status;
		while (waitpid(local->l_pids[i], &status, WNOHANG) == 0) {
			if (rl_mono_ms() > deadline) {
				kill(local->l_pids[i], SIGKILL);
				waitpid(local->l_pids[i], &status, 0);
				break;
			}
			rl_sleep_ms(10);
		}
	}
	rl_free(local->l_pids);
	rl_free(local);
}
