// SPDX-License-Identifier: Apache-2.0
// The cluster-mode driver daemon: one host thread follows the submitted jobs
// in ZooKeeper, their elections and the runners of the jobs it leads.
#include "driver/daemon.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cluster.pb-c.h"
#include "common/alloc.h"
#include "common/connector.h"
#include "common/jobfile.h"
#include "common/log.h"
#include "common/plan.h"
#include "common/time.h"
#include "common/udf.h"
#include "common/zk.h"
#include "driver/batch_log.h"
#include "driver/discovery.h"
#include "driver/election.h"
#include "driver/executors.h"
#include "driver/jobstore.h"
#include "driver/runner.h"

#define JOBS_PATH "/rill/jobs"
#define TICK_MS 20 // the host thread's longest wait for a watch event
#define HEARTBEAT_TIMEOUT_MS 10000
#define LOG_KEEP 100 // done batches kept in each job's log
#define RECONNECT_BACKOFF_MS 1000
#define READ_RETRY_MS 500 // after a failed read of /rill/jobs or a job's node
#define LEAVE_RETRY_MS 500 // after a resignation ZooKeeper did not take

// Watch tags on the daemon's queue (a job's watches are told apart by path).
enum { TAG_LIST = 1, TAG_SPEC, TAG_DESIRED };

// Why a runner was asked to stop, which says what follows once it has.
enum stop_why {
	WHY_NONE, // not asked: it ended by itself
	WHY_LOST, // the lead is gone (lease, expiry): stay in line
	WHY_DESIRED, // desired stop or stop-graceful, or the job went: resign
	WHY_UPGRADE, // a new spec: start it with the same epoch and log
	WHY_SHUTDOWN, // the daemon stops (or crashes): run resigns (or not)
};

typedef struct djob {
	rl_daemon *j_daemon;
	char      *j_name;
	char      *j_spec_path;
	char      *j_desired_path;
	bool       j_listed; // a child of /rill/jobs in the latest listing

	// What ZooKeeper says, re-read when a watch fires.
	bool       j_spec_dirty, j_desired_dirty;
	bool       j_spec_watch, j_desired_watch; // set, not fired yet
	int64_t    j_read_at_ms; // retry a failed read no sooner
	bool       j_have_spec;
	char      *j_text; // the job file (JobSpec.job_text), NUL-terminated
	size_t     j_text_len;
	char      *j_filename;
	char       j_artifact[RL_SHA256_HEX_LEN]; // JobSpec.artifact_sha256, "" if none
	int32_t    j_spec_version; // the spec node's version
	int32_t    j_refused_version; // a spec version that cannot run (-1: none)
	bool       j_have_desired;
	rl_desired j_desired;

	// The election: NULL when not in line.
	rl_election *j_election;
	bool         j_leader; // ELECTED and not LOST since
	int64_t      j_epoch;
	int64_t      j_rejoin_at_ms;
	// Resigning, not done yet (ZooKeeper could not be reached): the node
	// stays in line, so nothing else happens until it is deleted or the
	// session expires. Joining again meanwhile would queue this driver
	// behind its own node, which nobody else could pass either.
	bool    j_leaving;
	int64_t j_leave_at_ms; // the next attempt
	int64_t j_rerun_at_ms; // a leader's next runner_begin, no sooner

	// The runner, on a thread of the daemon's (j_running until joined).
	bool          j_running;
	atomic_bool   j_in_charge; // the host's word; the lease is checked too
	atomic_bool   j_finished; // the thread's run returned
	enum stop_why j_stop_why;
	pthread_t     j_thread;
	rl_job       *j_job;
	rl_batch_log *j_log;
	rl_runner    *j_runner;
	int32_t       j_run_version; // the spec version it runs
	char          j_run_artifact[RL_SHA256_HEX_LEN]; // what the pool serves for it, "" if none
	rl_err        j_rv;
	char          j_why[1024];
	rl_runner_stats j_stats;
} djob;

struct rl_daemon {
	rl_daemon_opts d_opts;
	rl_zk         *d_zk;
	rl_zk_queue   *d_queue;
	int            d_lease_ms;
	bool           d_list_dirty, d_list_watch;
	int64_t        d_list_at_ms;
	rl_pool       *d_pool;
	rl_discovery  *d_discovery;
	djob         **d_jobs;
	size_t         d_njobs;
	atomic_int     d_stop; // 0 run, 1 stop gracefully, 2 crash
	atomic_int     d_leading;
};

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
format(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = rl_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

// ---- the session ----

static rl_err
session_open(rl_daemon *d, char *errbuf, size_t errlen)
{
	rl_err rv = rl_zk_connect(d->d_opts.zk_connect, d->d_opts.zk_session_timeout_ms,
	    d->d_opts.zk_connect_timeout_ms, &d->d_zk, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	d->d_queue = rl_zk_queue_create(d->d_zk);
	int granted = rl_zk_session_timeout_ms(d->d_zk);
	d->d_lease_ms = d->d_opts.lease_ms > 0 ? d->d_opts.lease_ms : granted * 2 / 3;
	d->d_list_dirty = true;
	d->d_list_watch = false;
	d->d_list_at_ms = 0;
	for (size_t i = 0; i < d->d_njobs; i++) {
		djob *j = d->d_jobs[i];
		j->j_spec_dirty = j->j_desired_dirty = true;
		j->j_spec_watch = j->j_desired_watch = false;
		j->j_read_at_ms = 0;
	}
	return RL_OK;
}

static void
session_close(rl_daemon *d)
{
	rl_zk_queue_destroy(d->d_queue);
	d->d_queue = NULL;
	rl_zk_close(d->d_zk);
	d->d_zk = NULL;
}

// job_in_charge is a runner's in_charge: the host still says so and the
// lease holds. @locality the runner's thread
static bool
job_in_charge(void *arg)
{
	djob *j = arg;
	return atomic_load(&j->j_in_charge)
	    && rl_zk_lease_holds(j->j_daemon->d_zk, j->j_daemon->d_lease_ms, rl_mono_ms());
}

// ---- jobs ----

static djob *
job_find(rl_daemon *d, const char *name)
{
	for (size_t i = 0; i < d->d_njobs; i++)
		if (strcmp(d->d_jobs[i]->j_name, name) == 0)
			return d->d_jobs[i];
	return NULL;
}

static djob *
job_add(rl_daemon *d, const char *name)
{
	djob *j = RL_NEW(djob);
	j->j_daemon = d;
	j->j_name = rl_strdup(name);
	j->j_spec_path = format(JOBS_PATH "/%s/spec", name);
	j->j_desired_path = format(JOBS_PATH "/%s/desired", name);
	j->j_spec_dirty = j->j_desired_dirty = true;
	j->j_refused_version = -1;
	atomic_init(&j->j_in_charge, false);
	atomic_init(&j->j_finished, false);
	d->d_jobs = rl_realloc(d->d_jobs, (d->d_njobs + 1) * sizeof(*d->d_jobs));
	d->d_jobs[d->d_njobs++] = j;
	return j;
}

static void
job_free(djob *j)
{
	rl_free(j->j_name);
	rl_free(j->j_spec_path);
	rl_free(j->j_desired_path);
	rl_free(j->j_text);
	rl_free(j->j_filename);
	rl_free(j);
}

static bool
want_run(const djob *j)
{
	return j->j_listed && j->j_have_spec && j->j_have_desired && j->j_desired == RL_DESIRED_RUN
	    && j->j_refused_version != j->j_spec_version;
}

// parse_job parses j's spec as a runner of this daemon can run it: the
// job's own name, and no step that keeps state unless its state can live
// in a Kafka changelog (a Kafka source) or the daemon has a state directory
// (snapshots in files every host can read).
static rl_err
parse_job(const djob *j, rl_job **ret, char *errbuf, size_t errlen)
{
	rl_job *job;
	rl_err  rv = rl_job_parse(j->j_text, j->j_text_len, j->j_filename, &job, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	if (strcmp(job->j_name, j->j_name) != 0) {
		snprintf(errbuf, errlen, "%s: the job is named %s, its node %s", j->j_filename,
		    job->j_name, j->j_name);
		rl_job_destroy(job);
		return RL_ERR_INVAL;
	}
	rl_plan *plan;
	if ((rv = rl_plan_build(job, &plan, errbuf, errlen)) != RL_OK) {
		rl_job_destroy(job);
		return rv;
	}
	const rl_step *stateful = rl_plan_stateful(plan);
	if (stateful != NULL && j->j_daemon->d_opts.state_dir == NULL
	    && strcmp(rl_job_source_kind(job), "kafka") != 0) {
		snprintf(errbuf, errlen,
		    "%s:%d:%d: %s keeps state across batches: without a Kafka source (whose "
		    "brokers keep the state's changelog) its snapshots need a directory every "
		    "host shares: start the drivers with --state-dir DIR",
		    j->j_filename, stateful->s_loc.line, stateful->s_loc.col,
		    rl_op_name(stateful->s_kind));
		rl_plan_destroy(plan);
		rl_job_destroy(job);
		return RL_ERR_NOTSUP;
	}
	rl_plan_destroy(plan);
	*ret = job;
	return RL_OK;
}

// read_spec reads j's spec again, watching it. A spec version that cannot
// run is logged once and refused.
static void
read_spec(rl_daemon *d, djob *j, int64_t now)
{
	char         why[1024], *data;
	size_t       len;
	rl_zk_stat   st;
	rl_zk_queue *watch = j->j_spec_watch ? NULL : d->d_queue;
	rl_err       rv = rl_zk_get_stat(
	          d->d_zk, j->j_spec_path, watch, TAG_SPEC, &data, &len, &st, why, sizeof(why));
	if (rv == RL_ERR_NOENT) {
		j->j_have_spec = false;
		// A missing node's exists watches for its creation.
		rv = watch == NULL ? RL_ERR_NOENT
		                   : rl_zk_exists(d->d_zk, j->j_spec_path, watch, TAG_SPEC, NULL,
		                       why, sizeof(why));
		if (rv == RL_ERR_NOENT) {
			j->j_spec_watch = true;
			j->j_spec_dirty = false;
		}
		return;
	}
	if (rv != RL_OK) {
		rl_warn(
		    "daemon", "cannot read the job's spec", "job=%s why=\"%s\"", j->j_name, why);
		j->j_read_at_ms = now + READ_RETRY_MS;
		return;
	}
	j->j_spec_watch = true;
	j->j_spec_dirty = false;
	Rill__JobSpec *spec = rill__job_spec__unpack(NULL, len, (const uint8_t *)data);
	rl_free(data);
	if (spec == NULL || spec->version != RL_JOBSPEC_VERSION) {
		if (j->j_refused_version != st.version)
			rl_error("daemon", "not run: its spec is not a JobSpec this version reads",
			    "job=%s version=%" PRId32, j->j_name, st.version);
		j->j_have_spec = true;
		j->j_spec_version = j->j_refused_version = st.version;
		if (spec != NULL)
			rill__job_spec__free_unpacked(spec, NULL);
		return;
	}
	bool changed = !j->j_have_spec || j->j_spec_version != st.version;
	j->j_have_spec = true;
	j->j_spec_version = st.version;
	if (changed) {
		rl_free(j->j_text);
		rl_free(j->j_filename);
		j->j_text = rl_strndup((const char *)spec->job_text.data, spec->job_text.len);
		j->j_text_len = spec->job_text.len;
		j->j_filename
		    = rl_strdup(spec->filename != NULL && spec->filename[0] != '\0' ? spec->filename
		                                                                    : j->j_name);
		snprintf(j->j_artifact, sizeof(j->j_artifact), "%s",
		    spec->artifact_sha256 != NULL ? spec->artifact_sha256 : "");
		rl_job *job;
		if ((rv = parse_job(j, &job, why, sizeof(why))) != RL_OK) {
			rl_error("daemon", "not run", "job=%s version=%" PRId32 " why=\"%s\"",
			    j->j_name, st.version, why);
			j->j_refused_version = st.version;
		} else {
			rl_job_destroy(job);
			rl_info(
			    "daemon", "job spec", "job=%s version=%" PRId32, j->j_name, st.version);
		}
	}
	rill__job_spec__free_unpacked(spec, NULL);
}

static void
read_desired(rl_daemon *d, djob *j, int64_t now)
{
	char         why[512], *data;
	size_t       len;
	rl_zk_queue *watch = j->j_desired_watch ? NULL : d->d_queue;
	rl_err       rv = rl_zk_get_stat(
	          d->d_zk, j->j_desired_path, watch, TAG_DESIRED, &data, &len, NULL, why, sizeof(why));
	if (rv == RL_ERR_NOENT) {
		j->j_have_desired = false;
		rv = watch == NULL ? RL_ERR_NOENT
		                   : rl_zk_exists(d->d_zk, j->j_desired_path, watch, TAG_DESIRED,
		                       NULL, why, sizeof(why));
		if (rv == RL_ERR_NOENT) {
			j->j_desired_watch = true;
			j->j_desired_dirty = false;
		}
		return;
	}
	if (rv != RL_OK) {
		rl_warn("daemon", "cannot read the job's desired state", "job=%s why=\"%s\"",
		    j->j_name, why);
		j->j_read_at_ms = now + READ_RETRY_MS;
		return;
	}
	j->j_desired_watch = true;
	j->j_desired_dirty = false;
	rl_desired desired;
	bool       ok = rl_desired_parse(data, len, &desired);
	rl_free(data);
	if (!ok) {
		rl_warn("daemon", "desired state unknown: treated as stop", "job=%s", j->j_name);
		desired = RL_DESIRED_STOP;
	}
	if (!j->j_have_desired || desired != j->j_desired)
		rl_info(
		    "daemon", "desired", "job=%s desired=%s", j->j_name, rl_desired_name(desired));
	j->j_have_desired = true;
	j->j_desired = desired;
}

// sync_list lists /rill/jobs again, watching it (or, while it is missing,
// watching for its creation).
static void
sync_list(rl_daemon *d, int64_t now)
{
	char         why[512], **names = NULL;
	size_t       count = 0;
	rl_zk_queue *watch = d->d_list_watch ? NULL : d->d_queue;
	rl_err       rv = rl_zk_children_watch(
	          d->d_zk, JOBS_PATH, watch, TAG_LIST, &names, &count, why, sizeof(why));
	if (rv == RL_ERR_NOENT) {
		rv = watch == NULL
		    ? RL_ERR_NOENT
		    : rl_zk_exists(d->d_zk, JOBS_PATH, watch, TAG_LIST, NULL, why, sizeof(why));
		if (rv == RL_OK) // created meanwhile: list again
			return;
		if (rv != RL_ERR_NOENT)
			goto err_read;
		d->d_list_watch = true;
	} else if (rv != RL_OK) {
		goto err_read;
	} else {
		d->d_list_watch = watch != NULL || d->d_list_watch;
	}
	d->d_list_dirty = false;
	for (size_t i = 0; i < d->d_njobs; i++)
		d->d_jobs[i]->j_listed = false;
	for (size_t i = 0; i < count; i++) {
		if (!rl_jobstore_valid_name(names[i]))
			continue;
		djob *j = job_find(d, names[i]);
		if (j == NULL)
			j = job_add(d, names[i]);
		j->j_listed = true;
	}
	rl_zk_free_names(names);
	return;
err_read:
	rl_warn("daemon", "cannot list the jobs", "path=" JOBS_PATH " why=\"%s\"", why);
	d->d_list_at_ms = now + READ_RETRY_MS;
}

static void
handle_event(rl_daemon *d, const rl_zk_event *ev)
{
	if (ev->type == RL_ZK_EV_SESSION)
		return; // expiry is seen by rl_zk_expired; watches survive the rest
	if (ev->tag == TAG_LIST) {
		d->d_list_watch = false;
		d->d_list_dirty = true;
		return;
	}
	for (size_t i = 0; i < d->d_njobs; i++) {
		djob *j = d->d_jobs[i];
		if (ev->tag == TAG_SPEC && strcmp(ev->path, j->j_spec_path) == 0) {
			j->j_spec_watch = false;
			j->j_spec_dirty = true;
		} else if (ev->tag == TAG_DESIRED && strcmp(ev->path, j->j_desired_path) == 0) {
			j->j_desired_watch = false;
			j->j_desired_dirty = true;
		}
	}
}

// ---- elections ----

// out_of_line forgets j's election (its node is gone or resigned).
static void
out_of_line(djob *j)
{
	rl_election_destroy(j->j_election);
	j->j_election = NULL;
	j->j_leaving = false;
}

// leave takes j out of line (resigning unless the session is gone) and
// keeps it out for backoff_ms. A resignation ZooKeeper did not take is
// tried again (leaving_step) before anything else happens to j.
static void
leave(rl_daemon *d, djob *j, bool resign, int backoff_ms)
{
	char why[512];
	atomic_store(&j->j_in_charge, false);
	j->j_leader = false;
	j->j_rejoin_at_ms = rl_mono_ms() + backoff_ms;
	if (j->j_election != NULL && resign
	    && rl_election_resign(j->j_election, why, sizeof(why)) != RL_OK) {
		rl_warn("daemon", "cannot resign yet, trying again", "job=%s why=\"%s\"", j->j_name,
		    why);
		j->j_leaving = true;
		j->j_leave_at_ms = rl_mono_ms() + LEAVE_RETRY_MS;
		return;
	}
	out_of_line(j);
}

// leaving_step tries a resignation again; the session's expiry ends it too
// (the node went with the session).
static void
leaving_step(rl_daemon *d, djob *j, int64_t now)
{
	rl_election_event ev;
	while (j->j_election != NULL && rl_election_poll(j->j_election, 0, &ev) == RL_OK)
		if (ev.type == RL_ELECTION_EXPIRED) {
			out_of_line(j);
			return;
		}
	if (now < j->j_leave_at_ms)
		return;
	char why[512];
	if (rl_election_resign(j->j_election, why, sizeof(why)) != RL_OK) {
		j->j_leave_at_ms = now + LEAVE_RETRY_MS;
		return;
	}
	rl_info("daemon", "resigned", "job=%s", j->j_name);
	out_of_line(j);
}

static void
join(rl_daemon *d, djob *j)
{
	char               why[512];
	rl_election_config cfg = {
		.job = j->j_name,
		.url = rl_pool_url(d->d_pool),
		.http = d->d_opts.http,
		.lease_ms = d->d_lease_ms,
	};
	if (rl_election_join(d->d_zk, &cfg, &j->j_election, why, sizeof(why)) != RL_OK) {
		rl_warn("daemon", "cannot join the election", "job=%s why=\"%s\"", j->j_name, why);
		j->j_election = NULL;
		j->j_rejoin_at_ms = rl_mono_ms() + d->d_opts.rejoin_backoff_ms;
		return;
	}
	rl_info("daemon", "in line", "job=%s node=%s", j->j_name,
	    rl_election_node(j->j_election) != NULL ? rl_election_node(j->j_election) : "-");
}

// ---- runners ----

static void *
runner_main(void *arg)
{
	djob *j = arg;
	j->j_rv = rl_runner_run(j->j_runner, &j->j_stats, j->j_why, sizeof(j->j_why));
	atomic_store(&j->j_finished, true);
	return NULL;
}

static void
log_warn(void *arg, const char *path, const char *why)
{
	const djob *j = arg;
	rl_warn("daemon", "batch log", "job=%s path=%s why=\"%s\"", j->j_name, path, why);
}

// release_artifact stops serving what j's runner served.
static void
release_artifact(rl_daemon *d, djob *j)
{
	if (j->j_run_artifact[0] == '\0')
		return;
	rl_pool_release_artifact(d->d_pool, j->j_run_artifact);
	j->j_run_artifact[0] = '\0';
}

// runner_begin starts j's runner with the latest spec, as the leader of
// epoch j_epoch. A spec that does not run is refused (and the line left);
// other failures leave the line for the backoff.
static void
runner_begin(rl_daemon *d, djob *j)
{
	char           why[1024];
	rl_err         rv;
	rl_runner_opts opts = {
		.min_executors = d->d_opts.min_executors,
		.epoch = (uint64_t)j->j_epoch,
		.print_out = d->d_opts.print_out,
		.zk = d->d_zk, // progress, fenced by the epoch as the log is
		.in_charge = job_in_charge,
		.in_charge_arg = j,
	};
	char state_dir[4096];
	if (d->d_opts.state_dir != NULL) {
		snprintf(state_dir, sizeof(state_dir), "%s/%s", d->d_opts.state_dir, j->j_name);
		opts.state_dir = state_dir;
	}
	if (!rl_election_in_charge(j->j_election))
		return; // the lease lapsed: LOST follows
	if ((rv = parse_job(j, &j->j_job, why, sizeof(why))) != RL_OK) {
		rl_error("daemon", "not run", "job=%s version=%" PRId32 " why=\"%s\"", j->j_name,
		    j->j_spec_version, why);
		j->j_refused_version = j->j_spec_version;
		leave(d, j, true, 0);
		return;
	}
	if ((rv = rl_batch_log_open_zk(d->d_zk, j->j_name, (int32_t)j->j_epoch, LOG_KEEP, log_warn,
	         j, &j->j_log, why, sizeof(why)))
	    != RL_OK)
		goto err_job;
	opts.batch_log = j->j_log;
	// The job's user functions: the pool serves their artifact (read from
	// ZooKeeper, digest checked) to the executors, which verify it again.
	if (j->j_artifact[0] != '\0' && rl_job_uses_udfs(j->j_job)) {
		unsigned char *bytes;
		size_t         len;
		if ((rv = rl_jobstore_get_artifact(
		         d->d_zk, j->j_artifact, &bytes, &len, why, sizeof(why)))
		    != RL_OK) {
			if (rv == RL_ERR_NOENT)
				rv = RL_ERR_PARSE; // it will not appear by itself: resubmit
			goto err_log;
		}
		rl_pool_add_artifact(d->d_pool, j->j_artifact, bytes, len);
		rl_free(bytes);
		snprintf(j->j_run_artifact, sizeof(j->j_run_artifact), "%s", j->j_artifact);
		opts.artifact_sha256 = j->j_run_artifact;
	}
	if ((rv = rl_runner_create(j->j_job, d->d_pool, &opts, &j->j_runner, why, sizeof(why)))
	    != RL_OK)
		goto err_log;
	atomic_store(&j->j_in_charge, true);
	atomic_store(&j->j_finished, false);
	j->j_stop_why = WHY_NONE;
	if (pthread_create(&j->j_thread, NULL, runner_main, j) != 0) {
		snprintf(why, sizeof(why), "cannot start the runner's thread");
		rv = RL_ERR_INTERNAL;
		goto err_runner;
	}
	j->j_running = true;
	j->j_run_version = j->j_spec_version;
	atomic_fetch_add(&d->d_leading, 1);
	rl_info("daemon", "leading", "job=%s epoch=%" PRId64 " version=%" PRId32 " log=%s",
	    j->j_name, j->j_epoch, j->j_spec_version, rl_batch_log_where(j->j_log));
	return;
err_runner:
	atomic_store(&j->j_in_charge, false);
	rl_runner_destroy(j->j_runner);
	j->j_runner = NULL;
err_log:
	release_artifact(d, j);
	rl_batch_log_close(j->j_log);
	j->j_log = NULL;
err_job:
	rl_job_destroy(j->j_job);
	j->j_job = NULL;
	rl_error("daemon", "cannot run the job", "job=%s epoch=%" PRId64 " why=\"%s\"", j->j_name,
	    j->j_epoch, why);
	if (rv == RL_ERR_TIMEDOUT) { // ZooKeeper is away: stay in line, try again
		j->j_rerun_at_ms = rl_mono_ms() + d->d_opts.rejoin_backoff_ms;
		return;
	}
	if (rv == RL_ERR_USAGE || rv == RL_ERR_NOTSUP || rv == RL_ERR_PARSE)
		j->j_refused_version = j->j_spec_version;
	leave(d, j, true, d->d_opts.rejoin_backoff_ms);
}

// runner_stop asks j's runner to stop: gracefully (the batch in flight
// finishes and commits) or now (in_charge turns false: it stops before its
// next durable step, leaving the batch to the next leader).
static void
runner_stop(djob *j, bool now, enum stop_why why)
{
	if (now)
		atomic_store(&j->j_in_charge, false);
	if (j->j_stop_why == WHY_NONE || j->j_stop_why == WHY_UPGRADE || why == WHY_SHUTDOWN)
		j->j_stop_why = why;
	rl_runner_stop(j->j_runner);
}

// runner_reap joins j's runner (blocking until it ended) and frees it and
// its log; then does what its stop was for.
static void
runner_reap(rl_daemon *d, djob *j)
{
	pthread_join(j->j_thread, NULL);
	j->j_running = false;
	atomic_fetch_sub(&d->d_leading, 1);
	rl_runner_destroy(j->j_runner);
	j->j_runner = NULL;
	release_artifact(d, j);
	rl_batch_log_close(j->j_log);
	j->j_log = NULL;
	rl_job_destroy(j->j_job);
	j->j_job = NULL;
	enum stop_why why = j->j_stop_why;
	j->j_stop_why = WHY_NONE;
	const char *result = j->j_rv == RL_OK ? "ok" : j->j_why;
	switch (why) {
	case WHY_NONE:
		rl_error("daemon", "job run ended",
		    "job=%s epoch=%" PRId64 " batches=%" PRIu64 " why=\"%s\"", j->j_name,
		    j->j_epoch, j->j_stats.batches, result);
		if (j->j_rv == RL_ERR_TIMEDOUT) {
			// ZooKeeper (or the source) did not answer in time: still
			// the leader, run again after the backoff, once in charge
			// (a lease that lapsed meanwhile reports LOST, then ELECTED
			// with a new epoch). The new run recovers from the log.
			j->j_rerun_at_ms = rl_mono_ms() + d->d_opts.rejoin_backoff_ms;
			atomic_store(&j->j_in_charge, false);
			break;
		}
		// It failed by itself: another driver may fare better.
		leave(d, j, true, d->d_opts.rejoin_backoff_ms);
		break;
	case WHY_LOST:
		rl_info("daemon", "stopped: no longer leading",
		    "job=%s epoch=%" PRId64 " batches=%" PRIu64, j->j_name, j->j_epoch,
		    j->j_stats.batches);
		atomic_store(&j->j_in_charge, false);
		break;
	case WHY_DESIRED:
		rl_info("daemon", "stopped as desired",
		    "job=%s epoch=%" PRId64 " batches=%" PRIu64 " result=\"%s\"", j->j_name,
		    j->j_epoch, j->j_stats.batches, result);
		leave(d, j, true, 0);
		break;
	case WHY_UPGRADE:
		rl_info("daemon", "stopped for an upgrade",
		    "job=%s epoch=%" PRId64 " batches=%" PRIu64 " result=\"%s\"", j->j_name,
		    j->j_epoch, j->j_stats.batches, result);
		atomic_store(&j->j_in_charge, false);
		break; // job_step starts the new spec while still leading
	case WHY_SHUTDOWN:
		rl_info("daemon", "stopped",
		    "job=%s epoch=%" PRId64 " batches=%" PRIu64 " result=\"%s\"", j->j_name,
		    j->j_epoch, j->j_stats.batches, result);
		atomic_store(&j->j_in_charge, false);
		break;
	}
}

// election_drain handles what j's election reports.
static void
election_drain(rl_daemon *d, djob *j)
{
	rl_election_event ev;
	while (j->j_election != NULL && rl_election_poll(j->j_election, 0, &ev) == RL_OK) {
		switch (ev.type) {
		case RL_ELECTION_STANDBY:
			rl_info("daemon", "standing by", "job=%s", j->j_name);
			break;
		case RL_ELECTION_ELECTED:
			rl_info("daemon", "elected", "job=%s epoch=%" PRId64, j->j_name, ev.epoch);
			j->j_leader = true;
			j->j_epoch = ev.epoch;
			break; // job_step starts the runner (once an old one ended)
		case RL_ELECTION_LOST:
			rl_warn("daemon", "lost the lead", "job=%s epoch=%" PRId64, j->j_name,
			    ev.epoch);
			j->j_leader = false;
			atomic_store(&j->j_in_charge, false);
			if (j->j_running)
				runner_stop(j, true, WHY_LOST);
			break;
		case RL_ELECTION_EXPIRED:
			rl_warn("daemon", "session expired: out of line", "job=%s", j->j_name);
			if (j->j_running)
				runner_stop(j, true, WHY_LOST);
			leave(d, j, false, 0);
			break;
		case RL_ELECTION_NONE:
			break;
		}
	}
}

// job_step moves j one step toward what is desired of it.
static void
job_step(rl_daemon *d, djob *j, int64_t now)
{
	if (j->j_running && atomic_load(&j->j_finished))
		runner_reap(d, j);
	if (j->j_leaving) {
		leaving_step(d, j, now);
		return;
	}
	if (j->j_election != NULL)
		election_drain(d, j);
	bool run = want_run(j);
	if (j->j_running) {
		if (j->j_stop_why != WHY_NONE)
			return;
		if (!run) {
			// stop-graceful, or the job went: finish the batch in flight.
			bool now_stop
			    = j->j_listed && j->j_have_desired && j->j_desired == RL_DESIRED_STOP;
			rl_info("daemon", "stopping", "job=%s how=%s", j->j_name,
			    now_stop ? "now" : "gracefully");
			runner_stop(j, now_stop, WHY_DESIRED);
		} else if (j->j_spec_version != j->j_run_version) {
			rl_info("daemon", "upgrading", "job=%s from=%" PRId32 " to=%" PRId32,
			    j->j_name, j->j_run_version, j->j_spec_version);
			runner_stop(j, false, WHY_UPGRADE);
		}
		return;
	}
	if (j->j_election != NULL && !run)
		leave(d, j, true, 0);
	else if (j->j_election != NULL && j->j_leader && now >= j->j_rerun_at_ms)
		runner_begin(d, j);
	else if (j->j_election == NULL && run && now >= j->j_rejoin_at_ms)
		join(d, j);
}

// ---- the host loop ----

// reap_all waits for every runner asked to stop (how, why) to end.
static void
stop_all(rl_daemon *d, bool now, enum stop_why why)
{
	for (size_t i = 0; i < d->d_njobs; i++)
		if (d->d_jobs[i]->j_running)
			runner_stop(d->d_jobs[i], now, why);
	for (size_t i = 0; i < d->d_njobs; i++)
		if (d->d_jobs[i]->j_running)
			runner_reap(d, d->d_jobs[i]);
}

// renew replaces an expired session: the runners are stopped as deposed
// leaders (they are: the lease ended before the expiry) and every election
// is over; a new session lists everything again.
static rl_err
renew(rl_daemon *d, char *errbuf, size_t errlen)
{
	rl_warn("daemon", "ZooKeeper session expired: stopping runners, new session", "connect=%s",
	    d->d_opts.zk_connect);
	stop_all(d, true, WHY_LOST);
	for (size_t i = 0; i < d->d_njobs; i++)
		leave(d, d->d_jobs[i], false, 0);
	session_close(d);
	for (;;) {
		rl_err rv = session_open(d, errbuf, errlen);
		if (rv == RL_OK)
			return RL_OK;
		if (atomic_load(&d->d_stop) != 0)
			return rv;
		rl_warn("daemon", "no new session yet", "why=\"%s\"", errbuf);
		rl_sleep_ms(RECONNECT_BACKOFF_MS);
	}
}

rl_err
rl_daemon_run(rl_daemon *d, char *errbuf, size_t errlen)
{
	rl_err rv = RL_OK;
	rl_info("daemon", "hosting submitted jobs", "connect=%s url=%s", d->d_opts.zk_connect,
	    rl_pool_url(d->d_pool));
	while (atomic_load(&d->d_stop) == 0) {
		if (rl_zk_expired(d->d_zk) && (rv = renew(d, errbuf, errlen)) != RL_OK)
			break;
		rl_zk_event ev;
		int         wait_ms = TICK_MS;
		while (rl_zk_queue_wait(d->d_queue, wait_ms, &ev)) {
			handle_event(d, &ev);
			rl_zk_event_fini(&ev);
			wait_ms = 0;
		}
		int64_t now = rl_mono_ms();
		if (d->d_list_dirty && now >= d->d_list_at_ms)
			sync_list(d, now);
		for (size_t i = 0; i < d->d_njobs; i++) {
			djob *j = d->d_jobs[i];
			if ((j->j_spec_dirty || j->j_desired_dirty) && now >= j->j_read_at_ms) {
				if (j->j_spec_dirty)
					read_spec(d, j, now);
				if (j->j_desired_dirty)
					read_desired(d, j, now);
			}
			job_step(d, j, now);
		}
		// Forget jobs that went and left nothing behind.
		for (size_t i = 0; i < d->d_njobs;) {
			djob *j = d->d_jobs[i];
			if (!j->j_listed && !j->j_running && j->j_election == NULL) {
				job_free(j);
				d->d_jobs[i] = d->d_jobs[--d->d_njobs];
			} else {
				i++;
			}
		}
	}
	bool crash = atomic_load(&d->d_stop) == 2;
	stop_all(d, crash, WHY_SHUTDOWN);
	for (size_t i = 0; i < d->d_njobs; i++)
		leave(d, d->d_jobs[i], !crash && !rl_zk_expired(d->d_zk), 0);
	rl_info("daemon", crash ? "crashed (test)" : "stopped", "connect=%s", d->d_opts.zk_connect);
	return rv;
}

void
rl_daemon_stop(rl_daemon *d)
{
	int running = 0;
	atomic_compare_exchange_strong(&d->d_stop, &running, 1);
}

void
rl_daemon_crash(rl_daemon *d)
{
	atomic_store(&d->d_stop, 2);
}

int
rl_daemon_leading(rl_daemon *d)
{
	return atomic_load(&d->d_leading);
}

const char *
rl_daemon_url(const rl_daemon *d)
{
	return rl_pool_url(d->d_pool);
}

rl_err
rl_daemon_create(const rl_daemon_opts *opts, rl_daemon **ret, char *errbuf, size_t errlen)
{
	rl_daemon *d = RL_NEW(rl_daemon);
	rl_err     rv;
	d->d_opts = *opts;
	if (d->d_opts.zk_session_timeout_ms <= 0)
		d->d_opts.zk_session_timeout_ms = 10000;
	if (d->d_opts.zk_connect_timeout_ms <= 0)
		d->d_opts.zk_connect_timeout_ms = 10000;
	if (d->d_opts.rejoin_backoff_ms <= 0)
		d->d_opts.rejoin_backoff_ms = 2000;
	if (d->d_opts.min_executors <= 0)
		d->d_opts.min_executors = 1;
	atomic_init(&d->d_stop, 0);
	atomic_init(&d->d_leading, 0);
	if ((rv = session_open(d, errbuf, errlen)) != RL_OK)
		goto err_daemon;
	if ((rv = rl_pool_create(
	         opts->listen_url, HEARTBEAT_TIMEOUT_MS, &d->d_pool, errbuf, errlen))
	    != RL_OK)
		goto err_daemon;
	if ((rv = rl_discovery_start(d->d_pool, opts->zk_connect, d->d_opts.zk_session_timeout_ms,
	         d->d_opts.zk_connect_timeout_ms, &d->d_discovery, errbuf, errlen))
	    != RL_OK)
		goto err_daemon;
	*ret = d;
	return RL_OK;
err_daemon:
	rl_daemon_destroy(d);
	return rv;
}

void
rl_daemon_destroy(rl_daemon *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->d_njobs; i++) {
		djob *j = d->d_jobs[i];
		if (j->j_running) { // run was never asked to stop: as a crash
			runner_stop(j, true, WHY_SHUTDOWN);
			runner_reap(d, j);
		}
		rl_election_destroy(j->j_election);
		job_free(j);
	}
	rl_free(d->d_jobs);
	rl_discovery_stop(d->d_discovery);
	rl_pool_destroy(d->d_pool);
	if (d->d_zk != NULL)
		session_close(d);
	rl_free(d);
}
