// SPDX-License-Identifier: Apache-2.0
// Leader election for one job: a line of ephemeral sequential nodes, each
// candidate watching its predecessor; the first bumps the epoch and holds a lease.
#include "driver/election.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/time.h"

// A step that failed (a connection loss, a race) is tried again this much later.
#define RETRY_MS 100

enum state {
	S_JOINING, // this candidate's node is to be created
	S_CHECK, // its place in line is to be (re)evaluated
	S_STANDBY, // behind another candidate, watching the predecessor
	S_LEADER, // first in line, epoch bumped, lease held
	S_LOST, // was leader; waits for the lease to come back
	S_EXPIRED, // the session expired (terminal)
	S_RESIGNED, // left the line (terminal)
};

#define PENDING_MAX 4

struct rl_election {
	rl_zk       *e_zk;
	rl_zk_queue *e_queue;
	char        *e_election_dir; // /rill/jobs/<job>/election
	char        *e_node_prefix; // …/election/n_
	char        *e_epoch_path;
	char        *e_leader_path;
	char        *e_url;
	char        *e_http;
	int          e_lease_ms;

	enum state e_state;
	char      *e_node; // this candidate's node, or NULL
	bool       e_create_uncertain; // a create may have happened unseen
	char      *e_watching; // the predecessor's path, or NULL
	bool       e_watch_live; // a watch on e_watching has not fired
	uint64_t   e_watch_tag; // the tag of the latest predecessor watch
	uint64_t   e_next_tag;
	uint64_t   e_own_tag; // the leader's watch on its own node
	bool       e_own_watch_live;
	bool       e_deposed; // the leader's own node changed or went
	bool       e_dirty; // something changed: evaluate the line again
	int64_t    e_retry_at_ms;
	bool       e_standby_reported;
	int64_t    e_epoch;

	rl_election_event e_pending[PENDING_MAX];
	int               e_pending_head, e_pending_count;
};

static void
push(rl_election *e, rl_election_event_type type, int64_t epoch)
{
	if (e->e_pending_count == PENDING_MAX)
		return; // cannot happen: at most two events per step
	int at = (e->e_pending_head + e->e_pending_count) % PENDING_MAX;
	e->e_pending[at] = (rl_election_event) { .type = type, .epoch = epoch };
	e->e_pending_count++;
}

static bool
lease_valid(rl_election *e, int64_t now)
{
	return rl_zk_lease_holds(e->e_zk, e->e_lease_ms, now);
}

static bool
valid_job(const char *job)
{
	return job != NULL && job[0] != '\0' && strchr(job, '/') == NULL && strcmp(job, ".") != 0
	    && strcmp(job, "..") != 0;
}

rl_err
rl_election_join(
    rl_zk *zk, const rl_election_config *config, rl_election **ret, char *errbuf, size_t errlen)
{
	if (!valid_job(config->job)) {
		snprintf(errbuf, errlen, "election: job name \"%s\" must be non-empty, without '/'",
		    config->job != NULL ? config->job : "");
		return RL_ERR_INVAL;
	}
	int session_ms = rl_zk_session_timeout_ms(zk);
	int lease_ms = config->lease_ms > 0 ? config->lease_ms : session_ms * 2 / 3;
	if (lease_ms >= session_ms) {
		snprintf(errbuf, errlen,
		    "election of job %s: lease %d ms must be shorter than the session timeout %d "
		    "ms",
		    config->job, lease_ms, session_ms);
		return RL_ERR_INVAL;
	}
	rl_election *e = RL_NEW(rl_election);
	e->e_zk = zk;
	e->e_election_dir = rl_strdup_printf("/rill/jobs/%s/election", config->job);
	e->e_node_prefix = rl_strdup_printf("/rill/jobs/%s/election/n_", config->job);
	e->e_epoch_path = rl_strdup_printf("/rill/jobs/%s/epoch", config->job);
	e->e_leader_path = rl_strdup_printf("/rill/jobs/%s/leader", config->job);
	e->e_url = rl_strdup(config->url != NULL ? config->url : "");
	e->e_http = config->http != NULL ? rl_strdup(config->http) : NULL;
	e->e_lease_ms = lease_ms;
	e->e_state = S_JOINING;
	e->e_queue = rl_zk_queue_create(zk);
	char *data
	    = rl_strdup_printf("url=%s\nhttp=%s\n", e->e_url, e->e_http != NULL ? e->e_http : "");
	rl_err rv = rl_zk_create(zk, e->e_node_prefix, data, strlen(data),
	    RL_ZK_EPHEMERAL | RL_ZK_SEQUENTIAL, &e->e_node, errbuf, errlen);
	rl_free(data);
	if (rv != RL_OK) {
		rl_election_destroy(e);
		return rv;
	}
	e->e_state = S_CHECK;
	*ret = e;
	return RL_OK;
}

void
rl_election_destroy(rl_election *e)
{
	if (e == NULL)
		return;
	rl_zk_queue_destroy(e->e_queue);
	rl_free(e->e_election_dir);
	rl_free(e->e_node_prefix);
	rl_free(e->e_epoch_path);
	rl_free(e->e_leader_path);
	rl_free(e->e_url);
	rl_free(e->e_http);
	rl_free(e->e_node);
	rl_free(e->e_watching);
	rl_free(e);
}

// ---- the steps ----

// find_own_node looks for a node of this session in line, after a create
// whose answer was lost.
static rl_err
find_own_node(rl_election *e, char **names, char *errbuf, size_t errlen)
{
	int64_t me = rl_zk_session_id(e->e_zk);
	for (char **n = names; *n != NULL; n++) {
		char      *path = rl_strdup_printf("%s/%s", e->e_election_dir, *n);
		rl_zk_stat st;
		rl_err     rv = rl_zk_exists(e->e_zk, path, NULL, 0, &st, errbuf, errlen);
		if (rv == RL_OK && st.ephemeral_owner == me) {
			e->e_node = path;
			return RL_OK;
		}
		rl_free(path);
		if (rv != RL_OK && rv != RL_ERR_NOENT)
			return rv;
	}
	return RL_OK;
}

// become_leader bumps the epoch and replaces the leader node in one multi-op
// that checks this candidate's node, so only the first in line can do it.
static rl_err
become_leader(rl_election *e, char *errbuf, size_t errlen)
{
	rl_err rv = rl_zk_create(e->e_zk, e->e_epoch_path, NULL, 0, 0, NULL, errbuf, errlen);
	if (rv != RL_OK && rv != RL_ERR_EXISTS)
		return rv;
	rl_zk_stat epoch_st, leader_st;
	if ((rv = rl_zk_exists(e->e_zk, e->e_epoch_path, NULL, 0, &epoch_st, errbuf, errlen))
	    != RL_OK)
		return rv;
	rv = rl_zk_exists(e->e_zk, e->e_leader_path, NULL, 0, &leader_st, errbuf, errlen);
	if (rv != RL_OK && rv != RL_ERR_NOENT)
		return rv;
	bool    replace = rv == RL_OK;
	int64_t epoch = (int64_t)epoch_st.version + 1;
	char    data[4096];
	snprintf(data, sizeof(data), "url=%s\nhttp=%s\nepoch=%" PRId64 "\n", e->e_url,
	    e->e_http != NULL ? e->e_http : "", epoch);
	rl_zk_op ops[4];
	size_t   n = 0;
	ops[n++] = rl_zk_op_check(e->e_node, -1);
	ops[n++] = rl_zk_op_set(e->e_epoch_path, data, strlen(data), epoch_st.version);
	if (replace)
		ops[n++] = rl_zk_op_delete(e->e_leader_path, leader_st.version);
	ops[n++] = rl_zk_op_create(e->e_leader_path, data, strlen(data), RL_ZK_EPHEMERAL);
	rv = rl_zk_multi(e->e_zk, ops, n, NULL, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	epoch = ops[1].new_version;
	rl_zk_ops_fini(ops, n);
	// Watch our own node: deleted by hand (or an operator's tool), we lead no more.
	if (!e->e_own_watch_live) {
		uint64_t tag = ++e->e_next_tag;
		if (rl_zk_exists(e->e_zk, e->e_node, e->e_queue, tag, NULL, errbuf, errlen)
		    == RL_OK) {
			e->e_own_tag = tag;
			e->e_own_watch_live = true;
		}
	}
	e->e_epoch = epoch;
	e->e_state = S_LEADER;
	e->e_standby_reported = false;
	push(e, RL_ELECTION_ELECTED, epoch);
	return RL_OK;
}

// step evaluates this candidate's place in line: leads when first, else
// watches its predecessor (a data watch: set only if the node is there).
static rl_err
step(rl_election *e, char *errbuf, size_t errlen)
{
	for (int attempt = 0; attempt < 10; attempt++) {
		rl_err rv;
		if (e->e_node == NULL && !e->e_create_uncertain) {
			char *data = rl_strdup_printf(
			    "url=%s\nhttp=%s\n", e->e_url, e->e_http != NULL ? e->e_http : "");
			rv = rl_zk_create(e->e_zk, e->e_node_prefix, data, strlen(data),
			    RL_ZK_EPHEMERAL | RL_ZK_SEQUENTIAL, &e->e_node, errbuf, errlen);
			rl_free(data);
			if (rv == RL_ERR_TIMEDOUT)
				e->e_create_uncertain = true;
			if (rv != RL_OK)
				return rv;
		}
		char **names = NULL;
		size_t count = 0;
		rv = rl_zk_children(e->e_zk, e->e_election_dir, &names, &count, errbuf, errlen);
		if (rv != RL_OK)
			return rv;
		if (e->e_node == NULL) { // e_create_uncertain
			rv = find_own_node(e, names, errbuf, errlen);
			e->e_create_uncertain = false;
			if (rv != RL_OK || e->e_node == NULL) {
				rl_zk_free_names(names);
				if (rv != RL_OK)
					return rv;
				continue; // not created: create now
			}
		}
		const char *mine = strrchr(e->e_node, '/') + 1;
		size_t      at = count;
		for (size_t i = 0; i < count; i++)
			if (strcmp(names[i], mine) == 0)
				at = i;
		if (at == count) { // our node is gone (deleted by hand): queue again
			rl_zk_free_names(names);
			rl_free(e->e_node);
			e->e_node = NULL;
			continue;
		}
		if (at == 0) {
			rl_zk_free_names(names);
			rl_free(e->e_watching);
			e->e_watching = NULL;
			return become_leader(e, errbuf, errlen);
		}
		char *pred = rl_strdup_printf("%s/%s", e->e_election_dir, names[at - 1]);
		rl_zk_free_names(names);
		if (e->e_watch_live && e->e_watching != NULL && strcmp(pred, e->e_watching) == 0) {
			rl_free(pred); // already watched; its deletion will wake us
		} else {
			char    *value = NULL;
			uint64_t tag = ++e->e_next_tag;
			rv = rl_zk_get_stat(
			    e->e_zk, pred, e->e_queue, tag, &value, NULL, NULL, errbuf, errlen);
			rl_free(value);
			if (rv == RL_ERR_NOENT) { // gone meanwhile: look again
				rl_free(pred);
				continue;
			}
			if (rv != RL_OK) {
				rl_free(pred);
				return rv;
			}
			e->e_watch_tag = tag;
			e->e_watch_live = true;
			rl_free(e->e_watching);
			e->e_watching = pred;
		}
		e->e_state = S_STANDBY;
		if (!e->e_standby_reported) {
			e->e_standby_reported = true;
			push(e, RL_ELECTION_STANDBY, 0);
		}
		return RL_OK;
	}
	snprintf(errbuf, errlen, "election in %s: the line kept changing", e->e_election_dir);
	return RL_ERR_BUSY;
}

// advance moves the state machine as far as it goes now, queueing events.
static void
advance(rl_election *e)
{
	if (e->e_state == S_EXPIRED || e->e_state == S_RESIGNED)
		return;
	int64_t now = rl_mono_ms();
	if (rl_zk_session_state(e->e_zk) == RL_ZK_EXPIRED || rl_zk_expired(e->e_zk)) {
		if (e->e_state == S_LEADER)
			push(e, RL_ELECTION_LOST, e->e_epoch);
		push(e, RL_ELECTION_EXPIRED, 0);
		e->e_state = S_EXPIRED;
		return;
	}
	if (e->e_state == S_LEADER) {
		if (e->e_deposed) {
			e->e_deposed = false;
			e->e_state = S_CHECK;
			e->e_dirty = true;
			push(e, RL_ELECTION_LOST, e->e_epoch);
			return;
		}
		if (lease_valid(e, now))
			return;
		e->e_state = S_LOST;
		push(e, RL_ELECTION_LOST, e->e_epoch);
		return;
	}
	e->e_deposed = false;
	if (e->e_state == S_LOST) {
		if (!lease_valid(e, now))
			return;
		e->e_state = S_CHECK;
	}
	if (rl_zk_session_state(e->e_zk) != RL_ZK_CONNECTED)
		return;
	if (e->e_state == S_STANDBY && !e->e_dirty)
		return;
	if (now < e->e_retry_at_ms)
		return;
	// A leader is made only under a valid lease.
	if (!lease_valid(e, now))
		return;
	char err[512];
	e->e_dirty = false;
	if (step(e, err, sizeof(err)) != RL_OK) {
		e->e_dirty = true;
		e->e_retry_at_ms = now + RETRY_MS;
	}
}

rl_err
rl_election_poll(rl_election *e, int timeout_ms, rl_election_event *ret)
{
	int64_t deadline = rl_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		if (e->e_pending_count == 0)
			advance(e);
		if (e->e_pending_count > 0) {
			*ret = e->e_pending[e->e_pending_head];
			e->e_pending_head = (e->e_pending_head + 1) % PENDING_MAX;
			e->e_pending_count--;
			return RL_OK;
		}
		// Past the deadline the queue is still drained (without waiting):
		// a watch that fired must reach advance even with timeout 0.
		int64_t now = rl_mono_ms();
		int64_t wake = deadline;
		if (e->e_state == S_LEADER) {
			int64_t lease_end = rl_zk_last_heard_ms(e->e_zk) + e->e_lease_ms;
			if (lease_end < wake)
				wake = lease_end;
		}
		if ((e->e_dirty || e->e_state == S_CHECK || e->e_state == S_LOST)
		    && now + RETRY_MS < wake)
			wake = now + RETRY_MS; // the lease or the session may come back
		rl_zk_event ev;
		if (!rl_zk_queue_wait(e->e_queue, (int)(wake > now ? wake - now : 0), &ev)) {
			if (rl_mono_ms() >= deadline)
				break;
		} else {
			if (ev.type == RL_ZK_EV_SESSION) {
				e->e_dirty = true;
			} else if (ev.tag == e->e_watch_tag) {
				e->e_watch_live = false;
				e->e_dirty = true;
			} else if (ev.tag == e->e_own_tag) {
				e->e_own_watch_live = false;
				e->e_deposed = true;
				e->e_dirty = true;
			}
			rl_zk_event_fini(&ev);
		}
	}
	*ret = (rl_election_event) { .type = RL_ELECTION_NONE };
	return RL_ERR_TIMEDOUT;
}

bool
rl_election_in_charge(rl_election *e)
{
	return e->e_state == S_LEADER && !rl_zk_expired(e->e_zk) && lease_valid(e, rl_mono_ms());
}

int64_t
rl_election_epoch(const rl_election *e)
{
	return e->e_epoch;
}

rl_zk_op
rl_election_fence(const rl_election *e)
{
	return rl_zk_op_check(e->e_epoch_path, (int32_t)e->e_epoch);
}

const char *
rl_election_node(const rl_election *e)
{
	return e->e_node;
}

const char *
rl_election_watching(const rl_election *e)
{
	return e->e_state == S_STANDBY ? e->e_watching : NULL;
}

rl_err
rl_election_resign(rl_election *e, char *errbuf, size_t errlen)
{
	if (e->e_state == S_EXPIRED || e->e_state == S_RESIGNED || e->e_node == NULL) {
		e->e_state = e->e_state == S_EXPIRED ? S_EXPIRED : S_RESIGNED;
		return RL_OK;
	}
	rl_err rv = RL_ERR_NOENT;
	if (e->e_state == S_LEADER || e->e_state == S_LOST) {
		rl_zk_op ops[] = {
			rl_election_fence(e),
			rl_zk_op_delete(e->e_leader_path, -1),
			rl_zk_op_delete(e->e_node, -1),
		};
		rv = rl_zk_multi(e->e_zk, ops, 3, NULL, errbuf, errlen);
	}
	// Not the leader (or no more: the leader node is another's): our node only.
	if (rv != RL_OK)
		rv = rl_zk_delete_version(e->e_zk, e->e_node, -1, errbuf, errlen);
	if (rv != RL_OK && rv != RL_ERR_NOENT)
		return rv;
	e->e_state = S_RESIGNED;
	return RL_OK;
}

// ---- query ----

// field returns the value of "key=" in text's lines (NULL when absent or empty).
static char *
field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t      len = end != NULL ? (size_t)(end - line) : strlen(line);
		if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == '=')
			return len > klen + 1 ? rl_strndup(line + klen + 1, len - klen - 1) : NULL;
		line = end != NULL ? end + 1 : NULL;
	}
	return NULL;
}

rl_err
rl_election_query(rl_zk *zk, const char *job, rl_election_view *ret, char *errbuf, size_t errlen)
{
	if (!valid_job(job)) {
		snprintf(errbuf, errlen, "election: job name \"%s\" must be non-empty, without '/'",
		    job != NULL ? job : "");
		return RL_ERR_INVAL;
	}
	rl_election_view view = { 0 };
	char            *dir = rl_strdup_printf("/rill/jobs/%s/election", job);
	char            *epoch_path = rl_strdup_printf("/rill/jobs/%s/epoch", job);
	char            *leader_path = rl_strdup_printf("/rill/jobs/%s/leader", job);
	char           **names = NULL;
	rl_zk_stat       st;
	char            *text = NULL;

	rl_err rv = rl_zk_exists(zk, epoch_path, NULL, 0, &st, errbuf, errlen);
	if (rv == RL_OK)
		view.epoch = st.version;
	else if (rv != RL_ERR_NOENT)
		goto err_view;
	rv = rl_zk_get(zk, leader_path, &text, NULL, errbuf, errlen);
	if (rv == RL_OK) {
		view.leader_url = field(text, "url");
		view.leader_http = field(text, "http");
		char *epoch = field(text, "epoch");
		view.leader_epoch = epoch != NULL ? strtoll(epoch, NULL, 10) : 0;
		rl_free(epoch);
		rl_free(text);
	} else if (rv != RL_ERR_NOENT) {
		goto err_view;
	}
	size_t count = 0;
	rv = rl_zk_children(zk, dir, &names, &count, errbuf, errlen);
	if (rv != RL_OK && rv != RL_ERR_NOENT)
		goto err_view;
	view.standby_urls = rl_calloc(count + 1, sizeof(char *));
	for (size_t i = 1; i < count; i++) {
		char *path = rl_strdup_printf("%s/%s", dir, names[i]);
		rv = rl_zk_get(zk, path, &text, NULL, errbuf, errlen);
		rl_free(path);
		if (rv == RL_ERR_NOENT)
			continue; // left meanwhile
		if (rv != RL_OK)
			goto err_view;
		char *url = field(text, "url");
		rl_free(text);
		view.standby_urls[view.standby_count++] = url != NULL ? url : rl_strdup("");
	}
	rl_zk_free_names(names);
	rl_free(dir);
	rl_free(epoch_path);
	rl_free(leader_path);
	*ret = view;
	return RL_OK;
err_view:
	rl_zk_free_names(names);
	rl_election_view_fini(&view);
	rl_free(dir);
	rl_free(epoch_path);
	rl_free(leader_path);
	return rv;
}

void
rl_election_view_fini(rl_election_view *view)
{
	if (view == NULL)
		return;
	rl_free(view->leader_url);
	rl_free(view->leader_http);
	for (size_t i = 0; view->standby_urls != NULL && i < view->standby_count; i++)
		rl_free(view->standby_urls[i]);
	rl_free(view->standby_urls);
	*view = (rl_election_view) { 0 };
}
