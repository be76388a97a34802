// SPDX-License-Identifier: Apache-2.0
// Split discovery and positions of the job's source, through its driver half.
#include "driver/input.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/connector.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/time.h"

#define DISCOVER_EVERY_MS 10000

struct rl_input {
	const rl_source_driver_ops *in_ops;
	void                       *in_state;
	bool                        in_opened;
	rl_source_limits            in_limits;
	rl_input_part              *in_parts;
	size_t                      in_nparts;
	const char                **in_ids; // the same splits' ids, for the ops
	int                        *in_index; // open addressing by id: split index, or -1
	size_t                      in_index_cap; // a power of two > in_nparts, or 0
	int64_t                     in_discovered_ms;
	uint64_t                    in_generation; // bumped when the splits or their order change
};

static void
part_free(rl_input_part *p)
{
	rl_free(p->ip_id);
	rl_free(p->ip_opaque);
}

void
rl_split_desc_free(rl_split_desc *descs, size_t n)
{
	for (size_t i = 0; descs != NULL && i < n; i++) {
		rl_free(descs[i].sd_id);
		rl_free(descs[i].sd_opaque);
	}
	rl_free(descs);
}

// index_build indexes the splits by id, so that rl_input_find does not walk
// them all (it is asked for every split of a checkpoint and of a discovery).
static void
index_build(rl_input *in)
{
	size_t cap = 16;
	while (cap < 2 * in->in_nparts + 2)
		cap *= 2;
	in->in_index = rl_realloc(in->in_index, cap * sizeof(int));
	in->in_index_cap = cap;
	for (size_t k = 0; k < cap; k++)
		in->in_index[k] = -1;
	for (size_t i = 0; i < in->in_nparts; i++) {
		const char *id = in->in_parts[i].ip_id;
		size_t      h = (size_t)rl_hash64(id, strlen(id)) & (cap - 1);
		while (in->in_index[h] >= 0)
			h = (h + 1) & (cap - 1);
		in->in_index[h] = (int)i;
	}
}

// discover takes the source's list of splits (its order), keeping what is
// known of splits seen before. At creation they are not positioned yet;
// found later they start at the earliest position.
static rl_err
discover(rl_input *in, bool initial, char *errbuf, size_t errlen)
{
	rl_split_desc *descs;
	size_t         n;
	rl_err         rv = in->in_ops->sd_discover(in->in_state, &descs, &n, errbuf, errlen);
	in->in_discovered_ms = rl_mono_ms();
	if (rv != RL_OK)
		return rv;
	rl_input_part *parts = rl_calloc(n + 1, sizeof(rl_input_part));
	size_t         fresh = 0;
	bool           moved = false;
	for (size_t i = 0; i < n; i++) {
		int old = rl_input_find(in, in->in_ops->sd_name, descs[i].sd_id);
		moved |= old != (int)i;
		if (old >= 0) {
			parts[i] = in->in_parts[old];
			in->in_parts[old].ip_id = NULL; // moved
			in->in_parts[old].ip_opaque = NULL;
			rl_free(descs[i].sd_id);
			rl_free(descs[i].sd_opaque);
		} else {
			parts[i] = (rl_input_part) {
				.ip_id = descs[i].sd_id,
				.ip_opaque = descs[i].sd_opaque,
				.ip_opaque_len = descs[i].sd_opaque_len,
				.ip_next = -1,
				.ip_target = -1,
				.ip_preferred = -1,
				.ip_committed = -1,
			};
			fresh++;
		}
	}
	rl_free(descs);
	// A split the source no longer lists keeps its place: its range may be
	// in a batch to run again, and Kafka never removes partitions.
	size_t kept = n;
	for (size_t k = 0; k < in->in_nparts; k++) {
		if (in->in_parts[k].ip_id == NULL)
			continue;
		parts = rl_realloc(parts, (kept + 1) * sizeof(rl_input_part));
		parts[kept++] = in->in_parts[k];
	}
	rl_free(in->in_parts);
	in->in_parts = parts;
	in->in_generation += moved || kept != n;
	in->in_nparts = kept;
	in->in_ids = rl_realloc(in->in_ids, (kept + 1) * sizeof(char *));
	for (size_t i = 0; i < kept; i++)
		in->in_ids[i] = parts[i].ip_id;
	index_build(in);
	if (initial || fresh == 0)
		return RL_OK;
	// Splits found after the start begin at their earliest position.
	int64_t *earliest = rl_calloc(kept + 1, sizeof(int64_t));
	rv = rl_input_earliest(in, earliest, errbuf, errlen);
	for (size_t i = 0; rv == RL_OK && i < kept; i++) {
		rl_input_part *p = &in->in_parts[i];
		if (p->ip_next >= 0)
			continue;
		p->ip_next = earliest[i];
		char what[RL_SPLIT_ID_MAX + 64];
		rl_input_describe(in, i, what, sizeof(what));
		rl_info("driver", "new split", "%s from=%" PRId64, what, p->ip_next);
	}
	rl_free(earliest);
	return rv;
}

rl_err
rl_input_create(const rl_job *job, rl_input **ret, char *errbuf, size_t errlen)
{
	const char                 *kind = rl_job_source_kind(job);
	const rl_source_driver_ops *ops = rl_source_driver_find(kind);
	if (ops == NULL || ops->sd_version != RL_SOURCE_DRIVER_VERSION) {
		snprintf(errbuf, errlen, "%s: source '%s' has no driver half in this rill",
		    job->j_filename, kind);
		return RL_ERR_NOTSUP;
	}
	rl_input *in = RL_NEW(rl_input);
	in->in_ops = ops;
	in->in_state = rl_calloc(1, ops->sd_state_size > 0 ? ops->sd_state_size : 1);
	in->in_opened = true;
	rl_err rv = ops->sd_open(in->in_state, job, &in->in_limits, errbuf, errlen);
	if (rv != RL_OK)
		goto err_input;
	if ((rv = discover(in, true, errbuf, errlen)) != RL_OK)
		goto err_input;
	*ret = in;
	return RL_OK;
err_input:
	rl_input_destroy(in);
	return rv;
}

void
rl_input_destroy(rl_input *in)
{
	if (in == NULL)
		return;
	if (in->in_opened)
		in->in_ops->sd_close(in->in_state);
	for (size_t i = 0; i < in->in_nparts; i++)
		part_free(&in->in_parts[i]);
	rl_free(in->in_parts);
	rl_free(in->in_ids);
	rl_free(in->in_index);
	rl_free(in->in_state);
	rl_free(in);
}

const char *
rl_input_connector(const rl_input *in)
{
	return in->in_ops->sd_name;
}

const rl_source_limits *
rl_input_limits(const rl_input *in)
{
	return &in->in_limits;
}

int
rl_input_find(rl_input *in, const char *kind, const char *id)
{
	if (kind == NULL || id == NULL || strcmp(kind, in->in_ops->sd_name) != 0
	    || in->in_index_cap == 0)
		return -1;
	size_t mask = in->in_index_cap - 1, h = (size_t)rl_hash64(id, strlen(id)) & mask;
	// A split moved out during a discovery keeps its slot with no id.
	for (; in->in_index[h] >= 0; h = (h + 1) & mask) {
		const char *at = in->in_parts[in->in_index[h]].ip_id;
		if (at != NULL && strcmp(at, id) == 0)
			return in->in_index[h];
	}
	return -1;
}

rl_err
rl_input_start(rl_input *in, const Rill__BatchRecord *ckp, char *errbuf, size_t errlen)
{
	int64_t *earliest = rl_calloc(in->in_nparts + 1, sizeof(int64_t));
	rl_err   rv = rl_input_earliest(in, earliest, errbuf, errlen);
	if (rv != RL_OK)
		goto out;
	for (size_t i = 0; i < in->in_nparts; i++)
		in->in_parts[i].ip_next = earliest[i];
	if (ckp != NULL) {
		bool done = ckp->phase == RILL__BATCH_RECORD__PHASE__DONE;
		for (size_t r = 0; r < ckp->n_splits; r++) {
			const Rill__SplitRange *sr = ckp->splits[r];
			int                     i = rl_input_find(in, sr->kind, sr->id);
			if (i >= 0)
				in->in_parts[i].ip_next = done ? sr->until : sr->from;
		}
		goto out;
	}
	int64_t *next = rl_calloc(in->in_nparts + 1, sizeof(int64_t));
	rv = in->in_ops->sd_start(
	    in->in_state, in->in_ids, in->in_nparts, earliest, next, errbuf, errlen);
	for (size_t i = 0; rv == RL_OK && i < in->in_nparts; i++)
		in->in_parts[i].ip_next = next[i];
	rl_free(next);
out:
	rl_free(earliest);
	return rv;
}

rl_err
rl_input_earliest(rl_input *in, int64_t *ret, char *errbuf, size_t errlen)
{
	return in->in_ops->sd_positions(
	    in->in_state, in->in_ids, in->in_nparts, RL_POSITION_EARLIEST, ret, errbuf, errlen);
}

rl_err
rl_input_commit(rl_input *in, char *errbuf, size_t errlen)
{
	if (in->in_ops->sd_commit == NULL)
		return RL_OK;
	const char **ids = rl_calloc(in->in_nparts + 1, sizeof(char *));
	int64_t     *next = rl_calloc(in->in_nparts + 1, sizeof(int64_t));
	size_t       n = 0;
	for (size_t i = 0; i < in->in_nparts; i++) {
		const rl_input_part *p = &in->in_parts[i];
		if (p->ip_next < 0 || p->ip_next == p->ip_committed)
			continue;
		ids[n] = p->ip_id;
		next[n++] = p->ip_next;
	}
	rl_err rv
	    = n > 0 ? in->in_ops->sd_commit(in->in_state, ids, next, n, errbuf, errlen) : RL_OK;
	for (size_t i = 0; rv == RL_OK && i < in->in_nparts; i++)
		if (in->in_parts[i].ip_next >= 0)
			in->in_parts[i].ip_committed = in->in_parts[i].ip_next;
	rl_free(ids);
	rl_free(next);
	return rv;
}

rl_err
rl_input_refresh(rl_input *in, char *errbuf, size_t errlen)
{
	if (rl_mono_ms() - in->in_discovered_ms >= DISCOVER_EVERY_MS) {
		char why[512];
		if (discover(in, false, why, sizeof(why)) != RL_OK)
			rl_warn("driver", "split discovery failed", "source=%s error=\"%s\"",
			    in->in_ops->sd_name, why);
	}
	int64_t *latest = rl_calloc(in->in_nparts + 1, sizeof(int64_t));
	rl_err   rv = in->in_ops->sd_positions(
	      in->in_state, in->in_ids, in->in_nparts, RL_POSITION_LATEST, latest, errbuf, errlen);
	if (rv == RL_OK)
		for (size_t i = 0; i < in->in_nparts; i++)
			in->in_parts[i].ip_latest = latest[i];
	rl_free(latest);
	return rv;
}

void
rl_input_set_targets(rl_input *in)
{
	for (size_t i = 0; i < in->in_nparts; i++)
		in->in_parts[i].ip_target = in->in_parts[i].ip_latest;
}

void
rl_input_describe(rl_input *in, size_t i, char *buf, size_t len)
{
	if (in->in_ops->sd_describe != NULL)
		in->in_ops->sd_describe(in->in_state, in->in_parts[i].ip_id, buf, len);
	else
		snprintf(buf, len, "split=%s", in->in_parts[i].ip_id);
}

uint64_t
rl_input_generation(const rl_input *in)
{
	return in->in_generation;
}

rl_input_part *
rl_input_parts(rl_input *in, size_t *ret_count)
{
	*ret_count = in->in_nparts;
	return in->in_parts;
}

// ---- the registry of driver halves ----

#define RL_SOURCE_DECL(name) extern const rl_source_driver_ops rl_source_##name##_driver;
RL_SOURCE_LIST(RL_SOURCE_DECL)
#undef RL_SOURCE_DECL

#define RL_SOURCE_ENTRY(name) &rl_source_##name##_driver,
static const rl_source_driver_ops *builtin[] = { RL_SOURCE_LIST(RL_SOURCE_ENTRY) };
#undef RL_SOURCE_ENTRY

#define MAX_ADDED 8
static const rl_source_driver_ops *added[MAX_ADDED];
static size_t                      nadded;

const rl_source_driver_ops *
rl_source_driver_find(const char *name)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (strcmp(builtin[i]->sd_name, name) == 0)
			return builtin[i];
	for (size_t i = 0; i < nadded; i++)
		if (strcmp(added[i]->sd_name, name) == 0)
			return added[i];
	return NULL;
}

void
rl_source_driver_add(const rl_source_driver_ops *ops)
{
	if (nadded < MAX_ADDED && rl_source_driver_find(ops->sd_name) == NULL)
		added[nadded++] = ops;
}
