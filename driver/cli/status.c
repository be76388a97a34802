// SPDX-License-Identifier: Apache-2.0
// `rill status`: one job's leader, stand-bys, epoch, desired state, spec and
// newest batches.
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cmdline.h"
#include "common/secret.h"
#include "driver/checkpoint.h"
#include "driver/cli/cli.h"
#include "driver/election.h"
#include "driver/jobstore.h"

#define PROG "rill status"
#define RECENT_BATCHES 5

typedef struct job_status {
	const char         *name;
	Rill__JobSpec      *spec;
	int32_t             spec_version; // submissions so far, less one
	const char         *desired; // "-" when unknown
	rl_election_view    view;
	Rill__BatchRecord **batches; // newest first
	size_t              nbatches;
	Rill__BatchRecord **done; // the newest done batch (ndone 0 or 1)
	size_t              ndone;
} job_status;

// lag_text writes rec's lag, or "-" when rec does not say.
static void
lag_text(const Rill__BatchRecord *rec, char *buf, size_t len)
{
	int64_t lag;
	if (rl_checkpoint_lag(rec, &lag))
		snprintf(buf, len, "%" PRId64, lag);
	else
		snprintf(buf, len, "-");
}

static json_t *
lag_json(const Rill__BatchRecord *rec)
{
	int64_t lag;
	return rl_checkpoint_lag(rec, &lag) ? json_integer(lag) : json_null();
}

// print_split_lags prints the lag of every split of the newest done batch.
static void
print_split_lags(const job_status *s)
{
	char when[64];
	if (s->ndone == 0) {
		printf("lag:        - (no batch done yet)\n");
		return;
	}
	const Rill__BatchRecord *rec = s->done[0];
	rl_cli_time(rec->batch_time_ms, when, sizeof(when));
	int64_t total;
	if (!rl_checkpoint_lag(rec, &total)) {
		printf("lag:        - (batch %s was recorded without its splits' ends)\n", when);
		return;
	}
	printf("lag:        %" PRId64 " after batch %s, as planned\n", total, when);
	int wid = 5;
	for (size_t i = 0; i < rec->n_splits; i++)
		if ((int)strlen(rec->splits[i]->id) > wid)
			wid = (int)strlen(rec->splits[i]->id);
	printf("  %-*s  %12s  %12s  %12s\n", wid, "SPLIT", "UNTIL", "END SEEN", "LAG");
	for (size_t i = 0; i < rec->n_splits; i++) {
		const Rill__SplitRange *sr = rec->splits[i];
		int64_t                 lag = 0;
		rl_checkpoint_split_lag(rec, sr, &lag);
		printf("  %-*s  %12" PRId64 "  %12" PRId64 "  %12" PRId64 "\n", wid, sr->id,
		    sr->until, sr->end_seen, lag);
	}
}

static void
print_text(const job_status *s)
{
	char when[64], hash[32];
	rl_cli_time(s->spec->submitted_ms, when, sizeof(when));
	snprintf(hash, sizeof(hash), "%016" PRIx64, s->spec->spec_hash);
	printf("job:        %s\n", s->name);
	printf("desired:    %s\n", s->desired);
	if (s->view.leader_url != NULL)
		printf("leader:     %s (http %s, epoch %" PRId64 ")\n", s->view.leader_url,
		    s->view.leader_http != NULL ? s->view.leader_http : "-", s->view.leader_epoch);
	else
		printf("leader:     -\n");
	printf("standbys:  ");
	for (size_t i = 0; i < s->view.standby_count; i++)
		printf(" %s", s->view.standby_urls[i]);
	printf("%s\n", s->view.standby_count == 0 ? " -" : "");
	printf("epoch:      %" PRId64 "\n", s->view.epoch);
	printf("submitted:  %s (submission %" PRId32 ", file %s)\n", when, s->spec_version + 1,
	    s->spec->filename);
	printf("spec hash:  %s\n", hash);
	printf("artifact:   %s\n",
	    s->spec->artifact_sha256[0] != '\0' ? s->spec->artifact_sha256 : "-");
	printf("batches:    %s\n", s->nbatches == 0 ? "none yet" : "");
	if (s->nbatches > 0)
		printf("  %-24s  %-8s  %-10s  %s\n", "TIME", "PHASE", "RECORDS", "LAG");
	for (size_t i = 0; i < s->nbatches; i++) {
		const Rill__BatchRecord *b = s->batches[i];
		char                     lag[32];
		rl_cli_time(b->batch_time_ms, when, sizeof(when));
		lag_text(b, lag, sizeof(lag));
		printf("  %-24s  %-8s  %-10" PRIu64 "  %s\n", when,
		    rl_checkpoint_phase_name(b->phase), b->records, lag);
	}
	print_split_lags(s);
}

static void
print_json(const job_status *s)
{
	char    hash[32];
	json_t *o = json_object();
	snprintf(hash, sizeof(hash), "%016" PRIx64, s->spec->spec_hash);
	json_object_set_new(o, "name", json_string(s->name));
	json_object_set_new(
	    o, "desired", strcmp(s->desired, "-") != 0 ? json_string(s->desired) : json_null());
	if (s->view.leader_url != NULL) {
		json_t *leader = json_object();
		json_object_set_new(leader, "url", json_string(s->view.leader_url));
		json_object_set_new(leader, "http",
		    s->view.leader_http != NULL ? json_string(s->view.leader_http) : json_null());
		json_object_set_new(leader, "epoch", json_integer(s->view.leader_epoch));
		json_object_set_new(o, "leader", leader);
	} else {
		json_object_set_new(o, "leader", json_null());
	}
	json_t *standbys = json_array();
	for (size_t i = 0; i < s->view.standby_count; i++)
		json_array_append_new(standbys, json_string(s->view.standby_urls[i]));
	json_object_set_new(o, "standbys", standbys);
	json_object_set_new(o, "epoch", json_integer(s->view.epoch));
	json_object_set_new(o, "submitted_ms", json_integer(s->spec->submitted_ms));
	json_object_set_new(o, "submissions", json_integer(s->spec_version + 1));
	json_object_set_new(o, "filename", json_string(s->spec->filename));
	json_object_set_new(o, "spec_hash", json_string(hash));
	json_object_set_new(o, "artifact_sha256",
	    s->spec->artifact_sha256[0] != '\0' ? json_string(s->spec->artifact_sha256)
	                                        : json_null());
	json_t *batches = json_array();
	for (size_t i = 0; i < s->nbatches; i++) {
		const Rill__BatchRecord *b = s->batches[i];
		json_t                  *batch = json_object();
		json_object_set_new(batch, "time_ms", json_integer(b->batch_time_ms));
		json_object_set_new(
		    batch, "phase", json_string(rl_checkpoint_phase_name(b->phase)));
		json_object_set_new(batch, "records", json_integer((json_int_t)b->records));
		json_object_set_new(batch, "lag", lag_json(b));
		json_array_append_new(batches, batch);
	}
	json_object_set_new(o, "batches", batches);
	json_t *lag = json_null();
	if (s->ndone > 0 && s->done[0]->ends_seen) {
		const Rill__BatchRecord *rec = s->done[0];
		json_t                  *splits = json_array();
		lag = json_object();
		json_object_set_new(lag, "batch_ms", json_integer(rec->batch_time_ms));
		json_object_set_new(lag, "total", lag_json(rec));
		for (size_t i = 0; i < rec->n_splits; i++) {
			const Rill__SplitRange *sr = rec->splits[i];
			json_t                 *split = json_object();
			int64_t                 n = 0;
			rl_checkpoint_split_lag(rec, sr, &n);
			json_object_set_new(split, "kind", json_string(sr->kind));
			json_object_set_new(split, "id", json_string(sr->id));
			json_object_set_new(split, "from", json_integer(sr->from));
			json_object_set_new(split, "until", json_integer(sr->until));
			json_object_set_new(split, "end_seen", json_integer(sr->end_seen));
			json_object_set_new(split, "lag", json_integer(n));
			json_array_append_new(splits, split);
		}
		json_object_set_new(lag, "splits", splits);
	}
	json_object_set_new(o, "lag", lag);
	char *text = json_dumps(o, JSON_INDENT(2));
	printf("%s\n", text);
	free(text);
	json_decref(o);
}

int
rl_cmd_status(const rl_cli_command *cmd, int argc, char **argv)
{
	const char  *secret_file = NULL;
	const char  *connect = NULL;
	bool         as_json = false;
	const rl_opt optv[] = {
		RL_CLI_CLUSTER_OPTS(&connect, &secret_file),
		RL_OPT_FLAG("json", &as_json, "print a JSON object instead of text"),
		RL_OPT_END,
	};
	const rl_cmdline cl = {
		.prog = PROG,
		.synopsis = cmd->usage,
		.about
		= "Shows a submitted job: its leader and stand-bys, epoch, desired state, when\n"
		  "it was submitted and its spec hash, its newest batches from the batch log\n"
		  "(time, most advanced phase, input records, lag), and the lag of each split\n"
		  "after the newest done batch: its end when that batch was planned less the\n"
		  "batch's until (not now: the command does not contact the source).\n",
		.opts = optv,
		.max_operands = 1,
	};
	const char *name;
	int         code;
	if (!rl_cli_cluster_args(
	        &cl, argc, argv, &connect, &secret_file, RL_CLI_JOB_NAME, &name, &code))
		return code;
	rl_zk *zk;
	if (!rl_cli_zk_connect(PROG, connect, &zk))
		return RL_EXIT_FAILURE;
	char       why[1024];
	job_status s = { .name = name, .desired = "-" };
	rl_err     rv = rl_jobstore_get_spec(zk, name, &s.spec, &s.spec_version, why, sizeof(why));
	code = RL_EXIT_FAILURE;
	if (rv != RL_OK) {
		rl_cli_job_error(PROG, connect, name, rv, why);
		goto out_zk;
	}
	rl_desired desired;
	rv = rl_jobstore_get_desired(zk, name, &desired, why, sizeof(why));
	if (rv == RL_OK)
		s.desired = rl_desired_name(desired);
	else if (rv != RL_ERR_NOENT && rv != RL_ERR_PARSE)
		goto err_spec;
	if ((rv = rl_election_query(zk, name, &s.view, why, sizeof(why))) != RL_OK)
		goto err_spec;
	unsigned all = (1u << RILL__BATCH_RECORD__PHASE__PLANNED)
	    | (1u << RILL__BATCH_RECORD__PHASE__PREPARED) | (1u << RILL__BATCH_RECORD__PHASE__DONE);
	if ((rv = rl_jobstore_log(
	         zk, name, all, RECENT_BATCHES, &s.batches, &s.nbatches, why, sizeof(why)))
	    != RL_OK)
		goto err_view;
	if ((rv = rl_jobstore_log(zk, name, 1u << RILL__BATCH_RECORD__PHASE__DONE, 1, &s.done,
	         &s.ndone, why, sizeof(why)))
	    != RL_OK)
		goto err_batches;
	if (as_json)
		print_json(&s);
	else
		print_text(&s);
	code = RL_EXIT_OK;
	rl_jobstore_log_free(s.done, s.ndone);
	rl_jobstore_log_free(s.batches, s.nbatches);
	rl_election_view_fini(&s.view);
	rill__job_spec__free_unpacked(s.spec, NULL);
	goto out_zk;

err_batches:
	rl_jobstore_log_free(s.batches, s.nbatches);
err_view:
	rl_election_view_fini(&s.view);
err_spec:
	rill__job_spec__free_unpacked(s.spec, NULL);
	fprintf(stderr, PROG ": job %s: %s\n", name, why);
out_zk:
	rl_zk_close(zk);
	return code;
}
