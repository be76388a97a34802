// SPDX-License-Identifier: Apache-2.0
// `rill list`: the cluster's jobs, one line each (or a JSON array).
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/cmdline.h"
#include "common/secret.h"
#include "driver/checkpoint.h"
#include "driver/cli/cli.h"
#include "driver/election.h"
#include "driver/jobstore.h"

#define PROG "rill list"

// One job's line.
typedef struct job_row {
	const char      *name;
	const char      *desired; // "-" when the node is missing or unreadable
	rl_election_view view;
	int64_t          last_batch_ms; // the newest done batch; 0: none
	bool             lag_known; // that batch recorded its splits' ends
	int64_t          lag; // records behind, over every split, when it was planned
} job_row;

static bool
read_row(rl_zk *zk, const char *name, job_row *row)
{
	char       why[1024];
	rl_desired desired;
	rl_err     rv = rl_jobstore_get_desired(zk, name, &desired, why, sizeof(why));
	if (rv != RL_OK && rv != RL_ERR_NOENT && rv != RL_ERR_PARSE)
		goto err;
	row->name = name;
	row->desired = rv == RL_OK ? rl_desired_name(desired) : "-";
	if ((rv = rl_election_query(zk, name, &row->view, why, sizeof(why))) != RL_OK)
		goto err;
	Rill__BatchRecord **recs;
	size_t              n;
	rv = rl_jobstore_log(
	    zk, name, 1u << RILL__BATCH_RECORD__PHASE__DONE, 1, &recs, &n, why, sizeof(why));
	if (rv != RL_OK) {
		rl_election_view_fini(&row->view);
		goto err;
	}
	row->last_batch_ms = n > 0 ? recs[0]->batch_time_ms : 0;
	row->lag_known = n > 0 && rl_checkpoint_lag(recs[0], &row->lag);
	rl_jobstore_log_free(recs, n);
	return true;
err:
	fprintf(stderr, PROG ": job %s: %s\n", name, why);
	return false;
}

static void
print_table(const job_row *rows, size_t n)
{
	int wname = 4, wdesired = 7, wleader = 6;
	for (size_t i = 0; i < n; i++) {
		const char *leader
		    = rows[i].view.leader_url != NULL ? rows[i].view.leader_url : "-";
		if ((int)strlen(rows[i].name) > wname)
			wname = (int)strlen(rows[i].name);
		if ((int)strlen(rows[i].desired) > wdesired)
			wdesired = (int)strlen(rows[i].desired);
		if ((int)strlen(leader) > wleader)
			wleader = (int)strlen(leader);
	}
	printf("%-*s  %-*s  %-*s  %5s  %-24s  %s\n", wname, "NAME", wdesired, "DESIRED", wleader,
	    "LEADER", "EPOCH", "LAST BATCH", "LAG");
	for (size_t i = 0; i < n; i++) {
		const job_row *r = &rows[i];
		char           last[64] = "-", lag[32] = "-";
		if (r->last_batch_ms > 0)
			rl_cli_time(r->last_batch_ms, last, sizeof(last));
		if (r->lag_known)
			snprintf(lag, sizeof(lag), "%" PRId64, r->lag);
		printf("%-*s  %-*s  %-*s  %5" PRId64 "  %-24s  %s\n", wname, r->name, wdesired,
		    r->desired, wleader, r->view.leader_url != NULL ? r->view.leader_url : "-",
		    r->view.epoch, last, lag);
	}
}

static void
print_json(const job_row *rows, size_t n)
{
	json_t *array = json_array();
	for (size_t i = 0; i < n; i++) {
		const job_row *r = &rows[i];
		json_t        *job = json_object();
		json_object_set_new(job, "name", json_string(r->name));
		json_object_set_new(job, "desired",
		    strcmp(r->desired, "-") != 0 ? json_string(r->desired) : json_null());
		json_object_set_new(job, "leader",
		    r->view.leader_url != NULL ? json_string(r->view.leader_url) : json_null());
		json_object_set_new(job, "epoch", json_integer(r->view.epoch));
		json_object_set_new(job, "last_batch_ms",
		    r->last_batch_ms > 0 ? json_integer(r->last_batch_ms) : json_null());
		json_object_set_new(job, "lag", r->lag_known ? json_integer(r->lag) : json_null());
		json_array_append_new(array, job);
	}
	char *text = json_dumps(array, JSON_INDENT(2));
	printf("%s\n", text);
	free(text);
	json_decref(array);
}

int
rl_cmd_list(const rl_cli_command *cmd, int argc, char **argv)
{
	const char  *secret_file = NULL;
	const char  *connect = NULL;
	bool         as_json = false;
	const rl_opt optv[] = {
		RL_CLI_CLUSTER_OPTS(&connect, &secret_file),
		RL_OPT_FLAG("json", &as_json, "print a JSON array instead of a table"),
		RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = PROG,
		.synopsis = cmd->usage,
		.about
		= "Lists the submitted jobs: name, desired state (run, stop, stop-graceful),\n"
		  "leader (- when none), epoch, the time of the newest done batch, and its lag:\n"
		  "the records its splits' ends were past its ranges when it was planned (not\n"
		  "now: the command does not contact the source; - when unknown).\n",
		.opts = optv,
		.max_operands = 0,
	};
	int code;
	if (!rl_cli_cluster_args(
	        &cl, argc, argv, &connect, &secret_file, RL_CLI_NO_OPERAND, NULL, &code))
		return code;
	rl_zk *zk;
	if (!rl_cli_zk_connect(PROG, connect, &zk))
		return RL_EXIT_FAILURE;
	code = RL_EXIT_FAILURE;
	char   why[1024];
	char **names;
	size_t count;
	rl_err rv = rl_jobstore_jobs(zk, &names, &count, why, sizeof(why));
	if (rv != RL_OK) {
		fprintf(stderr, PROG ": %s\n", why);
		goto out_zk;
	}
	job_row *rows = rl_calloc(count + 1, sizeof(*rows));
	size_t   n = 0;
	for (; n < count; n++)
		if (!read_row(zk, names[n], &rows[n]))
			goto out_rows;
	if (as_json)
		print_json(rows, n);
	else
		print_table(rows, n);
	code = RL_EXIT_OK;
out_rows:
	for (size_t i = 0; i < n; i++)
		rl_election_view_fini(&rows[i].view);
	rl_free(rows);
	rl_zk_free_names(names);
out_zk:
	rl_zk_close(zk);
	return code;
}
