// SPDX-License-Identifier: Apache-2.0
// What `rill submit`, `list`, `status` and `kill` share: the ZooKeeper session
// and how times are shown.
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "common/zk.h"
#include "driver/cli/cli.h"

// A cluster command's session only has to outlive the command; a short
// timeout makes the server drop it soon after a command that was killed.
#define SESSION_MS 10000

bool
rl_cli_zk_connect(const char *prog, const char *connect, rl_zk **ret)
{
	char   why[1024];
	rl_err rv = rl_zk_connect(connect, SESSION_MS, RL_CLI_ZK_CONNECT_MS, ret, why, sizeof(why));
	if (rv == RL_OK)
		return true;
	if (rv == RL_ERR_TIMEDOUT)
		fprintf(stderr, "%s: ZooKeeper at %s did not answer within %d s (%s)\n", prog,
		    connect, RL_CLI_ZK_CONNECT_MS / 1000, why);
	else
		fprintf(stderr, "%s: cannot reach ZooKeeper at %s: %s\n", prog, connect, why);
	return false;
}

void
rl_cli_time(int64_t ms, char *buf, size_t len)
{
	time_t    secs = (time_t)(ms / 1000);
	struct tm tm;
	if (ms < 0 || gmtime_r(&secs, &tm) == NULL) {
		snprintf(buf, len, "%" PRId64, ms);
		return;
	}
	char day[32];
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", day, (int)(ms % 1000));
}
