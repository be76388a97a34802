// SPDX-License-Identifier: Apache-2.0
// The batch log in ZooKeeper: one node per batch and phase under
// /rill/jobs/<job>/log, every write a multi-op fenced by the job's epoch.
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "common/zk.h"
#include "driver/batch_log.h"
#include "driver/fence.h"

// Attempts of one write: a record node that exists (create becomes set) or
// vanished (set becomes create), or a node to prune that is already gone.
#define WRITE_ATTEMPTS 8
// Kept done records checked in the multi-op that prunes, at most (more are
// trusted as read).
#define KEPT_CHECKS_MAX 500
// The longest job name the log takes (paths stay well inside the budget).
#define JOB_NAME_MAX 255

// Phases in the order a reader prefers them: the most advanced first.
static const Rill__BatchRecord__Phase read_order[] = {
	RILL__BATCH_RECORD__PHASE__DONE,
	RILL__BATCH_RECORD__PHASE__PREPARED,
	RILL__BATCH_RECORD__PHASE__PLANNED,
};
#define NPHASES (sizeof(read_order) / sizeof(read_order[0]))

// A done record this log wrote or found valid, and its node's version then.
// Pruning reads a done record once; after that the multi-op that prunes
// checks the version is unchanged (a record changed since is read again).
typedef struct known_done {
	int64_t k_time;
	int32_t k_version;
	int64_t k_base; // the record's base_batch_ms (0: whole)
} known_done;

// The log of one job, written by one leader of one epoch.
typedef struct zk_log {
	rl_zk                *z_zk;
	char                 *z_job;
	int32_t               z_epoch;
	int                   z_keep;
	rl_checkpoint_warn_fn z_warn;
	void                 *z_warn_arg;
	char                 *z_epoch_path; // /rill/jobs/<job>/epoch
	char                 *z_log; // /rill/jobs/<job>/log
	known_done           *z_known; // about z_keep entries: the kept batches
	size_t                z_nknown, z_known_cap;
	int64_t              *z_bad; // done records found invalid by this write's prune
	size_t                z_nbad, z_bad_cap;
} zk_log;

// One batch as the children of the log show it: bit p of b_phases is set
// when "<T>.<phase p>" exists.
typedef struct {
	int64_t  b_time;
	unsigned b_phases;
} batch_nodes;

static void
append(char *errbuf, size_t errlen, const char *text)
{
	size_t used = errbuf != NULL ? strlen(errbuf) : 0;
	if (used < errlen)
		snprintf(errbuf + used, errlen - used, "%s", text);
}

static char *
record_path(const zk_log *l, int64_t t, Rill__BatchRecord__Phase phase)
{
	return rl_strdup_printf("%s/%" PRId64 ".%s", l->z_log, t, rl_checkpoint_phase_name(phase));
}

static known_done *
find_known(zk_log *l, int64_t t)
{
	for (size_t i = 0; i < l->z_nknown; i++)
		if (l->z_known[i].k_time == t)
			return &l->z_known[i];
	return NULL;
}

static void
remember(zk_log *l, int64_t t, int32_t version, int64_t base)
{
	known_done *k = find_known(l, t);
	if (k != NULL) {
		k->k_version = version;
		k->k_base = base;
		return;
	}
	if (l->z_nknown == l->z_known_cap) {
		l->z_known_cap = rl_growth(l->z_known_cap, l->z_nknown + 1, 16);
		l->z_known = rl_realloc(l->z_known, l->z_known_cap * sizeof(known_done));
	}
	l->z_known[l->z_nknown++] = (known_done) { t, version, base };
}

// forget drops what is known of t (-1: of every batch older than before).
static void
forget(zk_log *l, int64_t t, int64_t before)
{
	size_t out = 0;
	for (size_t i = 0; i < l->z_nknown; i++)
		if (l->z_known[i].k_time != t && l->z_known[i].k_time >= before)
			l->z_known[out++] = l->z_known[i];
	l->z_nknown = out;
}

static int
cmp_batch_desc(const void *a, const void *b)
{
	int64_t ta = ((const batch_nodes *)a)->b_time, tb = ((const batch_nodes *)b)->b_time;
	return ta < tb ? 1 : ta > tb ? -1 : 0;
}

// list_batches reads the log's children into one entry per batch time,
// newest first; names that are not exactly <T>.<phase> are ignored. A
// missing log is an empty list.
static rl_err
list_batches(const zk_log *l, batch_nodes **ret, size_t *ret_n, char *errbuf, size_t errlen)
{
	char **names;
	size_t count;
	rl_err rv = rl_zk_children(l->z_zk, l->z_log, &names, &count, errbuf, errlen);
	if (rv == RL_ERR_NOENT) {
		*ret = NULL;
		*ret_n = 0;
		return RL_OK;
	}
	if (rv != RL_OK)
		return rv;
	batch_nodes *v = rl_calloc(count + 1, sizeof(*v));
	size_t       n = 0;
	for (size_t i = 0; i < count; i++) {
		int64_t                  t;
		Rill__BatchRecord__Phase phase;
		if (rl_checkpoint_parse_name(names[i], &t, &phase))
			v[n++] = (batch_nodes) { .b_time = t, .b_phases = 1u << phase };
	}
	rl_zk_free_names(names);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_batch_desc);
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && v[out - 1].b_time == v[i].b_time)
			v[out - 1].b_phases |= v[i].b_phases;
		else
			v[out++] = v[i];
	}
	*ret = v;
	*ret_n = out;
	return RL_OK;
}

// load_record reads the node of (t, phase). A valid record goes to *ret; a
// missing node gives *ret = NULL silently, an invalid one *ret = NULL and a
// warning naming the node. Only a node that cannot be read is an error.
static rl_err
load_record(const zk_log *l, int64_t t, Rill__BatchRecord__Phase phase, Rill__BatchRecord **ret,
    int32_t *ret_version, char *errbuf, size_t errlen)
{
	char      *path = record_path(l, t, phase), *data, why[256];
	size_t     len;
	rl_zk_stat st;
	rl_err     rv = rl_zk_get_stat(l->z_zk, path, NULL, 0, &data, &len, &st, errbuf, errlen);
	if (rv == RL_ERR_NOENT) {
		*ret = NULL;
		rv = RL_OK;
		goto out_path;
	}
	if (rv != RL_OK)
		goto out_path;
	Rill__BatchRecord *rec = rl_checkpoint_decode(
	    (const unsigned char *)data, len, t, phase, "node", why, sizeof(why));
	if (rec == NULL && l->z_warn != NULL)
		l->z_warn(l->z_warn_arg, path, why);
	rl_free(data);
	*ret = rec;
	if (ret_version != NULL)
		*ret_version = st.version;
out_path:
	rl_free(path);
	return rv;
}

// load_batch returns the most advanced valid record among the phases in mask
// (and its node's version, if ret_version is not NULL).
static rl_err
load_batch(const zk_log *l, int64_t t, unsigned mask, Rill__BatchRecord **ret, int32_t *ret_version,
    char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < NPHASES; i++) {
		if ((mask & (1u << read_order[i])) == 0)
			continue;
		Rill__BatchRecord *rec;
		rl_err rv = load_record(l, t, read_order[i], &rec, ret_version, errbuf, errlen);
		if (rv != RL_OK)
			return rv;
		if (rec != NULL) {
			*ret = rec;
			return RL_OK;
		}
	}
	*ret = NULL;
	return RL_OK;
}

// A prune, as the directory store prunes: the newest z_keep batches with a
// valid done record (the one being written among them) are kept, and every
// batch newer than the oldest of them or than the oldest base a kept done
// record builds on; every node of an older batch goes.
// The multi-op that deletes them also checks that the kept done records
// read earlier are unchanged (their versions), so a record that went bad
// since is not counted.
typedef struct prune_plan {
	char   **p_check; // the kept done records' paths
	int32_t *p_version; // their versions when found valid
	int64_t *p_check_time;
	size_t   p_ncheck;
	char   **p_delete; // the nodes to delete
	size_t   p_ndelete, p_delete_cap;
	int64_t  p_oldest; // the oldest kept batch; -1 when nothing goes
} prune_plan;

static void
plan_fini(prune_plan *p)
{
	for (size_t i = 0; i < p->p_ncheck; i++)
		rl_free(p->p_check[i]);
	for (size_t i = 0; i < p->p_ndelete; i++)
		rl_free(p->p_delete[i]);
	rl_free(p->p_check);
	rl_free(p->p_version);
	rl_free(p->p_check_time);
	rl_free(p->p_delete);
	memset(p, 0, sizeof(*p));
	p->p_oldest = -1;
}

static bool
found_bad(const zk_log *l, int64_t t)
{
	for (size_t i = 0; i < l->z_nbad; i++)
		if (l->z_bad[i] == t)
			return true;
	return false;
}

// plan_prune plans the prune that writing done record t, built on base
// (0: whole), makes.
static rl_err
plan_prune(zk_log *l, int64_t t, int64_t base, prune_plan *ret, char *errbuf, size_t errlen)
{
	batch_nodes *v;
	size_t       n;
	rl_err       rv;
	if ((rv = list_batches(l, &v, &n, errbuf, errlen)) != RL_OK)
		return rv;
	// The record about to be written counts, whether its node exists yet.
	unsigned done = 1u << RILL__BATCH_RECORD__PHASE__DONE;
	size_t   at = 0;
	while (at < n && v[at].b_time > t)
		at++;
	if (at == n || v[at].b_time != t) {
		v = rl_realloc(v, (n + 1) * sizeof(*v));
		memmove(&v[at + 1], &v[at], (n - at) * sizeof(*v));
		v[at] = (batch_nodes) { .b_time = t, .b_phases = 0 };
		n++;
	}
	v[at].b_phases |= done;

	size_t      keep = (size_t)l->z_keep, found = 0, i = 0;
	prune_plan  p = { .p_oldest = -1 };
	known_done *kept = rl_calloc(keep, sizeof(*kept));
	int64_t     oldest_base = INT64_MAX;
	for (; i < n && found < keep; i++) {
		if ((v[i].b_phases & done) == 0)
			continue;
		int64_t     bt = v[i].b_time;
		known_done *k = find_known(l, bt);
		if (bt == t || k != NULL) {
			int64_t kb = bt == t ? base : k->k_base;
			kept[found++] = (known_done) { bt, k != NULL ? k->k_version : -1, kb };
			if (kb != 0 && kb < oldest_base)
				oldest_base = kb;
			continue;
		}
		if (found_bad(l, bt))
			continue;
		Rill__BatchRecord *rec;
		int32_t            version;
		if ((rv = load_batch(l, bt, done, &rec, &version, errbuf, errlen)) != RL_OK)
			goto out;
		if (rec != NULL) {
			kept[found++] = (known_done) { bt, version, rec->base_batch_ms };
			remember(l, bt, version, rec->base_batch_ms);
			if (rec->base_batch_ms != 0 && rec->base_batch_ms < oldest_base)
				oldest_base = rec->base_batch_ms;
			rill__batch_record__free_unpacked(rec, NULL);
		} else {
			// Warned about once: a second plan of this write skips it.
			if (l->z_nbad == l->z_bad_cap) {
				l->z_bad_cap = rl_growth(l->z_bad_cap, l->z_nbad + 1, 8);
				l->z_bad = rl_realloc(l->z_bad, l->z_bad_cap * sizeof(int64_t));
			}
			l->z_bad[l->z_nbad++] = bt;
		}
	}
	// The bases the kept records build on stay, and what is newer than them.
	while (found == keep && i < n && v[i].b_time >= oldest_base)
		i++;
	if (found == keep) {
		p.p_oldest = v[i - 1].b_time;
		p.p_check = rl_calloc(keep, sizeof(char *));
		p.p_version = rl_calloc(keep, sizeof(int32_t));
		p.p_check_time = rl_calloc(keep, sizeof(int64_t));
		for (size_t k = 0; k < keep && p.p_ncheck < KEPT_CHECKS_MAX; k++) {
			if (kept[k].k_time == t)
				continue;
			p.p_check[p.p_ncheck]
			    = record_path(l, kept[k].k_time, RILL__BATCH_RECORD__PHASE__DONE);
			p.p_version[p.p_ncheck] = kept[k].k_version;
			p.p_check_time[p.p_ncheck++] = kept[k].k_time;
		}
	}
	// i is one past the oldest kept batch, if `keep` were found.
	for (; found == keep && i < n; i++) {
		for (size_t k = 0; k < NPHASES; k++) {
			if ((v[i].b_phases & (1u << read_order[k])) == 0)
				continue;
			if (p.p_ndelete == p.p_delete_cap) {
				p.p_delete_cap = rl_growth(p.p_delete_cap, p.p_ndelete + 1, 16);
				p.p_delete
				    = rl_realloc(p.p_delete, p.p_delete_cap * sizeof(char *));
			}
			p.p_delete[p.p_ndelete++] = record_path(l, v[i].b_time, read_order[k]);
		}
	}
	*ret = p;
	p = (prune_plan) { .p_oldest = -1 };
out:
	plan_fini(&p);
	rl_free(kept);
	rl_free(v);
	return rv;
}

// prune_rest deletes plan's nodes from ops[start..count) (the deletes the
// record's multi-op had no room for) in more multi-ops, each fenced by the
// epoch; the first also checks the kept records when with_checks. A kept
// record that changed stops the prune: the next done record prunes again.
static rl_err
prune_rest(zk_log *l, const prune_plan *plan, rl_zk_op *ops, size_t start, size_t count,
    bool with_checks, const char *what, char *errbuf, size_t errlen)
{
	rl_zk_op *chunk = rl_calloc(1 + plan->p_ncheck + RL_ZK_MULTI_OPS_MAX, sizeof(*chunk));
	rl_err    rv = RL_OK;
	while (start < count) {
		size_t n = 0, used = 0;
		chunk[n++] = ops[0];
		for (size_t i = 0; with_checks && i < plan->p_ncheck; i++)
			chunk[n++] = rl_zk_op_check(plan->p_check[i], plan->p_version[i]);
		for (size_t i = 0; i < n; i++)
			used += rl_zk_op_bytes(&chunk[i]);
		size_t end = rl_zk_ops_fit(ops, start, count, used);
		memcpy(&chunk[n], &ops[start], (end - start) * sizeof(*chunk));
		size_t nchecks = n - 1, failed = 0;
		n += end - start;
		rv = rl_zk_multi(l->z_zk, chunk, n, &failed, errbuf, errlen);
		if (rv != RL_OK && failed == 0
		    && (rv == RL_ERR_STALE_EPOCH || rv == RL_ERR_NOENT)) {
			rv = rl_fence_stale(
			    l->z_zk, l->z_job, l->z_epoch, rv, l->z_log, what, errbuf, errlen);
			append(errbuf, errlen, "; the record is written, pruning stopped");
			break;
		}
		if (rv != RL_OK && failed >= 1 && failed <= nchecks) {
			forget(l, plan->p_check_time[failed - 1], INT64_MIN);
			rv = RL_OK;
			break;
		}
		if (rv != RL_OK)
			break;
		with_checks = false;
		start = end;
	}
	rl_free(chunk);
	return rv;
}

static rl_err
zk_write(void *impl, Rill__BatchRecord *rec, char *errbuf, size_t errlen)
{
	zk_log        *l = impl;
	unsigned char *bytes;
	size_t         len;
	rl_err         rv = rl_checkpoint_encode(rec, l->z_log, &bytes, &len, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	char *path = record_path(l, rec->batch_time_ms, rec->phase), what[128];
	snprintf(what, sizeof(what), "batch %" PRId64 "'s %s record", rec->batch_time_ms,
	    rl_checkpoint_phase_name(rec->phase));
	if (len > RL_BATCH_LOG_ZK_RECORD_MAX) {
		rl_errbuf_printf(errbuf, errlen,
		    "%s: %s is %zu bytes, more than the %d a ZooKeeper node of the batch log may "
		    "hold (ZooKeeper's jute.maxbuffer is about 1 MB); nothing written",
		    path, what, len, RL_BATCH_LOG_ZK_RECORD_MAX);
		rv = RL_ERR_INVAL;
		goto out_bytes;
	}
	bool       done = rec->phase == RILL__BATCH_RECORD__PHASE__DONE;
	rl_zk_op   record = rl_zk_op_create(path, bytes, len, 0);
	prune_plan plan = { .p_oldest = -1 };
	rl_zk_op  *ops = NULL;
	size_t     count = 0, first_end = 0;
	bool       together = true;
	int32_t    version = 0;
	// ops: the epoch check, the record, the kept records' checks, the deletes.
	l->z_nbad = 0;
	for (int attempt = 0;; attempt++) {
		plan_fini(&plan);
		rl_free(ops);
		ops = NULL;
		if (done
		    && (rv = plan_prune(
		            l, rec->batch_time_ms, rec->base_batch_ms, &plan, errbuf, errlen))
		        != RL_OK)
			goto out_ops;
		size_t fixed = 2 + plan.p_ncheck;
		count = fixed + plan.p_ndelete;
		ops = rl_calloc(count, sizeof(*ops));
		ops[0] = rl_zk_op_check(l->z_epoch_path, l->z_epoch);
		ops[1] = record;
		for (size_t i = 0; i < plan.p_ncheck; i++)
			ops[2 + i] = rl_zk_op_check(plan.p_check[i], plan.p_version[i]);
		for (size_t i = 0; i < plan.p_ndelete; i++)
			ops[fixed + i] = rl_zk_op_delete(plan.p_delete[i], -1);
		// The prune goes with the record when its checks fit beside it.
		size_t used = 0;
		for (size_t i = 0; i < fixed; i++)
			used += rl_zk_op_bytes(&ops[i]);
		together = used <= RL_ZK_MULTI_BUDGET && fixed <= RL_ZK_MULTI_OPS_MAX;
		first_end = together ? rl_zk_ops_fit(ops, 0, count, 0) : 2;
		size_t failed = 0;
		rv = rl_zk_multi(l->z_zk, ops, first_end, &failed, errbuf, errlen);
		if (rv == RL_OK) {
			version = ops[1].kind == RL_ZK_OP_SET ? ops[1].new_version : 0;
			rl_zk_ops_fini(ops, first_end);
			break;
		}
		rl_zk_ops_fini(ops, first_end);
		if (failed == 0 && (rv == RL_ERR_STALE_EPOCH || rv == RL_ERR_NOENT)) {
			rv = rl_fence_stale(
			    l->z_zk, l->z_job, l->z_epoch, rv, l->z_log, what, errbuf, errlen);
			append(errbuf, errlen, "; nothing written");
			goto out_ops;
		}
		if (attempt + 1 == WRITE_ATTEMPTS || failed >= first_end)
			goto out_ops;
		if (failed == 1 && record.kind == RL_ZK_OP_CREATE && rv == RL_ERR_EXISTS)
			record = rl_zk_op_set(path, bytes, len, -1);
		else if (failed == 1 && record.kind == RL_ZK_OP_SET && rv == RL_ERR_NOENT)
			record = rl_zk_op_create(path, bytes, len, 0);
		else if (failed >= 2 && failed < fixed
		    && (rv == RL_ERR_STALE_EPOCH || rv == RL_ERR_NOENT))
			// A kept record changed since it was read: read it again.
			forget(l, plan.p_check_time[failed - 2], INT64_MIN);
		else if (failed < fixed || rv != RL_ERR_NOENT)
			goto out_ops;
		// else a node to prune is already gone: plan again.
	}
	if (done) {
		remember(l, rec->batch_time_ms, version, rec->base_batch_ms);
		rv = prune_rest(l, &plan, ops, first_end, count, !together, what, errbuf, errlen);
		if (plan.p_oldest >= 0)
			forget(l, -1, plan.p_oldest);
	}
out_ops:
	rl_free(ops);
	plan_fini(&plan);
out_bytes:
	rl_free(path);
	rl_free(bytes);
	return rv;
}

// complete makes a sparse record whole from its base's done record. When
// that cannot be had, *rec is freed and NULL, with a warning naming its
// node: it is not a valid record.
static rl_err
complete(const zk_log *l, Rill__BatchRecord **rec, char *errbuf, size_t errlen)
{
	if (*rec == NULL || (*rec)->base_batch_ms == 0)
		return RL_OK;
	Rill__BatchRecord *base;
	char               why[256];
	unsigned           done = 1u << RILL__BATCH_RECORD__PHASE__DONE;
	rl_err rv = load_batch(l, (*rec)->base_batch_ms, done, &base, NULL, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	if (rl_checkpoint_complete(*rec, base, why, sizeof(why)) != RL_OK) {
		if (l->z_warn != NULL) {
			char *path = record_path(l, (*rec)->batch_time_ms, (*rec)->phase);
			l->z_warn(l->z_warn_arg, path, why);
			rl_free(path);
		}
		rill__batch_record__free_unpacked(*rec, NULL);
		*rec = NULL;
	}
	if (base != NULL)
		rill__batch_record__free_unpacked(base, NULL);
	return RL_OK;
}

static rl_err
zk_latest(void *impl, Rill__BatchRecord **ret, char *errbuf, size_t errlen)
{
	zk_log      *l = impl;
	batch_nodes *v;
	size_t       n;
	rl_err       rv;
	if ((rv = list_batches(l, &v, &n, errbuf, errlen)) != RL_OK)
		return rv;
	Rill__BatchRecord *rec = NULL;
	for (size_t i = 0; i < n && rec == NULL; i++) {
		if ((rv = load_batch(l, v[i].b_time, v[i].b_phases, &rec, NULL, errbuf, errlen))
		        != RL_OK
		    || (rv = complete(l, &rec, errbuf, errlen)) != RL_OK)
			goto err_list;
	}
	rl_free(v);
	*ret = rec;
	return RL_OK;

err_list:
	rl_free(v);
	return rv;
}

rl_err
rl_batch_log_zk_read(rl_zk *zk, const char *job, unsigned mask, size_t max,
    Rill__BatchRecord ***ret, size_t *ret_count, char *errbuf, size_t errlen)
{
	// A log without a writer: no epoch, nothing known, no warnings.
	zk_log       l = { .z_zk = zk, .z_log = rl_strdup_printf("/rill/jobs/%s/log", job) };
	batch_nodes *v;
	size_t       n;
	rl_err       rv;
	if ((rv = list_batches(&l, &v, &n, errbuf, errlen)) != RL_OK)
		goto out_log;
	Rill__BatchRecord **recs = rl_calloc(max + 1, sizeof(*recs));
	size_t              got = 0;
	for (size_t i = 0; i < n && got < max; i++) {
		Rill__BatchRecord *rec;
		rv = load_batch(&l, v[i].b_time, v[i].b_phases & mask, &rec, NULL, errbuf, errlen);
		if (rv == RL_OK)
			rv = complete(&l, &rec, errbuf, errlen);
		if (rv != RL_OK)
			goto err_recs;
		if (rec != NULL)
			recs[got++] = rec;
	}
	*ret = recs;
	*ret_count = got;
	goto out_list;

err_recs:
	for (size_t i = 0; i < got; i++)
		rill__batch_record__free_unpacked(recs[i], NULL);
	rl_free(recs);
out_list:
	rl_free(v);
out_log:
	rl_free(l.z_log);
	return rv;
}

static int
zk_keep(const void *impl)
{
	return ((const zk_log *)impl)->z_keep;
}

static const char *
zk_where(const void *impl)
{
	return ((const zk_log *)impl)->z_log;
}

static void
zk_close(void *impl)
{
	zk_log *l = impl;
	if (l == NULL)
		return;
	rl_free(l->z_job);
	rl_free(l->z_epoch_path);
	rl_free(l->z_log);
	rl_free(l->z_known);
	rl_free(l->z_bad);
	rl_free(l);
}

static const rl_batch_log_ops zk_ops = {
	.bl_version = RL_BATCH_LOG_VERSION,
	.bl_name = "zookeeper",
	.bl_write = zk_write,
	.bl_latest = zk_latest,
	.bl_where = zk_where,
	.bl_keep = zk_keep,
	.bl_close = zk_close,
};

rl_err
rl_batch_log_open_zk(rl_zk *zk, const char *job, int32_t epoch, int keep,
    rl_checkpoint_warn_fn warn, void *warn_arg, rl_batch_log **ret, char *errbuf, size_t errlen)
{
	if (job == NULL || job[0] == '\0' || strchr(job, '/') != NULL || strlen(job) > JOB_NAME_MAX
	    || strcmp(job, ".") == 0 || strcmp(job, "..") == 0) {
		rl_errbuf_printf(errbuf, errlen,
		    "batch log in ZooKeeper: job name '%s' is empty, has a '/' or is longer than "
		    "%d",
		    job != NULL ? job : "", JOB_NAME_MAX);
		return RL_ERR_INVAL;
	}
	if (keep < 1) {
		rl_errbuf_printf(errbuf, errlen,
		    "/rill/jobs/%s/log: keep must be at least 1 (got %d)", job, keep);
		return RL_ERR_INVAL;
	}
	if (epoch < 0) {
		rl_errbuf_printf(errbuf, errlen,
		    "/rill/jobs/%s/log: epoch must not be negative (got %" PRId32 ")", job, epoch);
		return RL_ERR_INVAL;
	}
	zk_log *l = RL_NEW(zk_log);
	l->z_zk = zk;
	l->z_job = rl_strdup(job);
	l->z_epoch = epoch;
	l->z_keep = keep;
	l->z_warn = warn;
	l->z_warn_arg = warn_arg;
	l->z_epoch_path = rl_fence_path(job);
	l->z_log = rl_strdup_printf("/rill/jobs/%s/log", job);
	// The log's node is made by the epoch's holder too, so a deposed
	// leader cannot bring a removed job's nodes back.
	rl_zk_op ops[] = {
		rl_zk_op_check(l->z_epoch_path, epoch),
		rl_zk_op_create(l->z_log, NULL, 0, 0),
	};
	size_t failed = 0;
	rl_err rv = rl_zk_multi(zk, ops, 2, &failed, errbuf, errlen);
	rl_zk_ops_fini(ops, 2);
	if (failed == 0 && (rv == RL_ERR_STALE_EPOCH || rv == RL_ERR_NOENT))
		rv = rl_fence_stale(l->z_zk, l->z_job, l->z_epoch, rv, l->z_log,
		    "cannot open the log", errbuf, errlen);
	else if (rv == RL_ERR_EXISTS && failed == 1)
		rv = RL_OK;
	if (rv != RL_OK) {
		zk_close(l);
		return rv;
	}
	rl_batch_log *log = RL_NEW(rl_batch_log);
	log->l_ops = &zk_ops;
	log->l_impl = l;
	*ret = log;
	return RL_OK;
}
