// SPDX-License-Identifier: Apache-2.0
// The job's progress in ZooKeeper: positions written as sets of the nodes
// known to exist and creates of the others, fenced by the writer's epoch.
#include "driver/progress.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "driver/fence.h"

// The longest job name taken (paths stay well inside a multi-op's budget).
#define JOB_NAME_MAX 255
// The longest split id taken.
#define SPLIT_ID_MAX 1024
// Attempts of one write: a node another client created (create becomes set)
// or deleted (set becomes create) since this writer looked.
#define WRITE_ATTEMPTS 8

// A set of paths: sorted, searched by halves.
typedef struct path_set {
	char **s_paths;
	size_t s_count, s_cap;
} path_set;

// set_at is where path is (found) or would go in s.
static size_t
set_at(const path_set *s, const char *path, bool *ret_found)
{
	size_t lo = 0, hi = s->s_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int    c = strcmp(s->s_paths[mid], path);
		if (c == 0) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = false;
	return lo;
}

static bool
set_has(const path_set *s, const char *path)
{
	bool found;
	set_at(s, path, &found);
	return found;
}

// set_add adds path (a copy) to s and returns the copy s keeps.
static const char *
set_add(path_set *s, const char *path)
{
	bool   found;
	size_t at = set_at(s, path, &found);
	if (found)
		return s->s_paths[at];
	if (s->s_count == s->s_cap) {
		s->s_cap = rl_growth(s->s_cap, s->s_count + 1, 16);
		s->s_paths = rl_realloc(s->s_paths, s->s_cap * sizeof(char *));
	}
	memmove(&s->s_paths[at + 1], &s->s_paths[at], (s->s_count - at) * sizeof(char *));
	s->s_paths[at] = rl_strdup(path);
	s->s_count++;
	return s->s_paths[at];
}

static void
set_remove(path_set *s, const char *path)
{
	bool   found;
	size_t at = set_at(s, path, &found);
	if (!found)
		return;
	rl_free(s->s_paths[at]);
	memmove(&s->s_paths[at], &s->s_paths[at + 1], (s->s_count - at - 1) * sizeof(char *));
	s->s_count--;
}

static void
set_fini(path_set *s)
{
	for (size_t i = 0; i < s->s_count; i++)
		rl_free(s->s_paths[i]);
	rl_free(s->s_paths);
	memset(s, 0, sizeof(*s));
}

struct rl_progress {
	rl_zk   *p_zk;
	char    *p_job;
	int32_t  p_epoch;
	char    *p_root; // /rill/jobs/<job>/offsets
	path_set p_exists; // nodes known to exist, under p_root and p_root itself
	path_set p_listed; // parents whose children are all in p_exists
	path_set p_missing; // parents found missing by this write attempt
};

rl_err
rl_progress_open(
    rl_zk *zk, const char *job, int32_t epoch, rl_progress **ret, char *errbuf, size_t errlen)
{
	if (job == NULL || job[0] == '\0' || strchr(job, '/') != NULL || strlen(job) > JOB_NAME_MAX
	    || strcmp(job, ".") == 0 || strcmp(job, "..") == 0) {
		rl_errbuf_printf(errbuf, errlen,
		    "progress in ZooKeeper: job name '%s' is empty, has a '/' or is longer than %d",
		    job != NULL ? job : "", JOB_NAME_MAX);
		return RL_ERR_INVAL;
	}
	if (epoch < 0) {
		rl_errbuf_printf(errbuf, errlen,
		    "/rill/jobs/%s/offsets: epoch must not be negative (got %" PRId32 ")", job,
		    epoch);
		return RL_ERR_INVAL;
	}
	rl_progress *p = RL_NEW(rl_progress);
	p->p_zk = zk;
	p->p_job = rl_strdup(job);
	p->p_epoch = epoch;
	p->p_root = rl_strdup_printf("/rill/jobs/%s/offsets", job);
	*ret = p;
	return RL_OK;
}

void
rl_progress_close(rl_progress *p)
{
	if (p == NULL)
		return;
	set_fini(&p->p_exists);
	set_fini(&p->p_listed);
	set_fini(&p->p_missing);
	rl_free(p->p_root);
	rl_free(p->p_job);
	rl_free(p);
}

// valid_id tells whether id names a node below the root: parts separated by
// single slashes, none empty, "." or "..".
static bool
valid_id(const char *id)
{
	size_t len = strlen(id);
	if (len == 0 || len > SPLIT_ID_MAX)
		return false;
	for (const char *part = id;;) {
		size_t n = strcspn(part, "/");
		if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && strncmp(part, "..", 2) == 0))
			return false;
		if (part[n] == '\0')
			return true;
		part += n + 1;
	}
}

// learn finds out which of path's parents below /rill/jobs/<job> exist and,
// when its parent does, which children the parent has (once: later writes
// trust what this writer did and saw since).
static rl_err
learn(rl_progress *p, const char *path, char *errbuf, size_t errlen)
{
	size_t parent_len = (size_t)(strrchr(path, '/') - path);
	char  *parent = rl_strdup(path);
	parent[parent_len] = '\0';
	rl_err rv = RL_OK;
	if (set_has(&p->p_listed, parent))
		goto out_parent;
	// The root and each parent below it, from the top: the first missing
	// one has no children.
	size_t root_len = strlen(p->p_root);
	for (size_t end = root_len; end <= parent_len; end++) {
		if (end < parent_len && parent[end] != '/')
			continue;
		char saved = parent[end];
		parent[end] = '\0';
		if (set_has(&p->p_missing, parent)) {
			parent[end] = saved;
			goto out_parent;
		}
		if (!set_has(&p->p_exists, parent)) {
			rv = rl_zk_exists(p->p_zk, parent, NULL, 0, NULL, errbuf, errlen);
			if (rv == RL_OK)
				set_add(&p->p_exists, parent);
			else if (rv == RL_ERR_NOENT)
				set_add(&p->p_missing, parent);
		}
		parent[end] = saved;
		if (rv == RL_ERR_NOENT) {
			rv = RL_OK;
			goto out_parent;
		}
		if (rv != RL_OK)
			goto out_parent;
	}
	char **names;
	size_t count;
	rv = rl_zk_children(p->p_zk, parent, &names, &count, errbuf, errlen);
	if (rv == RL_ERR_NOENT) { // gone meanwhile
		set_remove(&p->p_exists, parent);
		rv = RL_OK;
		goto out_parent;
	}
	if (rv != RL_OK)
		goto out_parent;
	for (size_t i = 0; i < count; i++) {
		char *child = rl_strdup_printf("%s/%s", parent, names[i]);
		set_add(&p->p_exists, child);
		rl_free(child);
	}
	rl_zk_free_names(names);
	set_add(&p->p_listed, parent);
out_parent:
	rl_free(parent);
	return rv;
}

// One write's operations: for each position not yet written, the creates of
// its missing parents (each once) and its node's create or set.
typedef struct write_plan {
	rl_zk_op *w_ops;
	size_t   *w_owner; // per op: the position whose node it writes, or SIZE_MAX
	size_t    w_count, w_cap;
	path_set  w_created; // parents this write creates
} write_plan;

static void
plan_add(write_plan *w, rl_zk_op op, size_t owner)
{
	if (w->w_count == w->w_cap) {
		w->w_cap = rl_growth(w->w_cap, w->w_count + 1, 64);
		w->w_ops = rl_realloc(w->w_ops, w->w_cap * sizeof(*w->w_ops));
		w->w_owner = rl_realloc(w->w_owner, w->w_cap * sizeof(*w->w_owner));
	}
	w->w_ops[w->w_count] = op;
	w->w_owner[w->w_count++] = owner;
}

static void
plan_fini(write_plan *w)
{
	rl_zk_ops_fini(w->w_ops, w->w_count);
	rl_free(w->w_ops);
	rl_free(w->w_owner);
	set_fini(&w->w_created);
	memset(w, 0, sizeof(*w));
}

// plan_node adds the operations that write paths[i] with value.
static void
plan_node(rl_progress *p, write_plan *w, char **paths, size_t i, const char *value)
{
	char  *path = paths[i];
	size_t root_len = strlen(p->p_root);
	// Its parents from the top, the root included (path[root_len] is the
	// root's '/'): create those not known to exist, once in this write.
	for (size_t end = root_len; path[end] != '\0'; end++) {
		if (path[end] != '/')
			continue;
		path[end] = '\0';
		if (!set_has(&p->p_exists, path) && !set_has(&w->w_created, path))
			plan_add(
			    w, rl_zk_op_create(set_add(&w->w_created, path), NULL, 0, 0), SIZE_MAX);
		path[end] = '/';
	}
	if (set_has(&p->p_exists, path))
		plan_add(w, rl_zk_op_set(path, value, strlen(value), -1), i);
	else
		plan_add(w, rl_zk_op_create(path, value, strlen(value), 0), i);
}

rl_err
rl_progress_write(
    rl_progress *p, const rl_progress_pos *pos, size_t count, char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < count; i++) {
		if (!valid_id(pos[i].pp_id)) {
			rl_errbuf_printf(errbuf, errlen,
			    "%s: split id '%s' cannot name a node (empty, longer than %d, or with "
			    "an empty, '.' or '..' part); nothing written",
			    p->p_root, pos[i].pp_id, SPLIT_ID_MAX);
			return RL_ERR_INVAL;
		}
	}
	if (count == 0)
		return RL_OK;
	char **paths = rl_calloc(count, sizeof(char *));
	char(*values)[24] = rl_calloc(count, sizeof(*values));
	bool *written = rl_calloc(count, sizeof(bool));
	for (size_t i = 0; i < count; i++) {
		paths[i] = rl_strdup_printf("%s/%s", p->p_root, pos[i].pp_id);
		snprintf(values[i], sizeof(values[i]), "%" PRId64, pos[i].pp_position);
	}
	char what[64];
	snprintf(what, sizeof(what), "the positions of %zu split%s", count, count == 1 ? "" : "s");
	// The root's own parent, /rill/jobs/<job>, is there while the epoch
	// node is: a job removed fails the epoch's check first.
	rl_err rv = RL_OK;
	for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		write_plan w = { 0 };
		rv = RL_OK;
		set_fini(&p->p_missing);
		for (size_t i = 0; i < count && rv == RL_OK; i++)
			if (!written[i])
				rv = learn(p, paths[i], errbuf, errlen);
		if (rv != RL_OK)
			break;
		for (size_t i = 0; i < count; i++)
			if (!written[i])
				plan_node(p, &w, paths, i, values[i]);
		size_t applied = 0, failed = w.w_count;
		rv = rl_fence_multi(p->p_zk, p->p_job, p->p_epoch, w.w_ops, w.w_count, p->p_root,
		    what, &applied, &failed, errbuf, errlen);
		for (size_t k = 0; k < applied; k++) {
			set_add(&p->p_exists, w.w_ops[k].path);
			if (w.w_owner[k] != SIZE_MAX)
				written[w.w_owner[k]] = true;
			else // a parent it made: its children are the ones made here
				set_add(&p->p_listed, w.w_ops[k].path);
		}
		bool again = false;
		if (rv != RL_OK && rv != RL_ERR_STALE_EPOCH && failed < w.w_count) {
			const rl_zk_op *op = &w.w_ops[failed];
			if (op->kind == RL_ZK_OP_CREATE && rv == RL_ERR_EXISTS) {
				set_add(&p->p_exists, op->path); // another client made it
				again = true;
			} else if (op->kind == RL_ZK_OP_SET && rv == RL_ERR_NOENT) {
				set_remove(&p->p_exists, op->path); // another client deleted it
				char *parent = rl_strdup(op->path);
				*strrchr(parent, '/') = '\0';
				set_remove(&p->p_listed, parent);
				rl_free(parent);
				again = true;
			} else if (op->kind == RL_ZK_OP_CREATE && rv == RL_ERR_NOENT) {
				set_fini(&p->p_exists); // a parent went: look again
				set_fini(&p->p_listed);
				again = true;
			}
		}
		plan_fini(&w);
		if (!again)
			break;
	}
	for (size_t i = 0; i < count; i++)
		rl_free(paths[i]);
	rl_free(paths);
	rl_free(values);
	rl_free(written);
	return rv;
}
