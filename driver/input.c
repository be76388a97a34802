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

// One input of the job (its source, or a union's): its driver half and
// where its splits are in in_parts (together, in the source's order).
typedef struct member {
	const rl_source_driver_ops *m_ops;
	void                       *m_state;
	bool                        m_opened;
	rl_source_limits            m_limits;
	size_t                      m_first; // its splits: in_parts[m_first, m_first + m_n)
	size_t                      m_n;
	int64_t                     m_discovered_ms;
} member;

struct rl_input {
	member        *in_members;
	size_t         in_nmembers;
	rl_input_part *in_parts; // every member's, member by member
	size_t         in_nparts;
	const char   **in_ids; // the same splits' ids, for the ops
	int           *in_index; // open addressing by (input, id): split index, or -1
	size_t         in_index_cap; // a power of two > in_nparts, or 0
	uint64_t       in_generation; // bumped when the splits or their order change
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

static size_t
split_hash(uint32_t input, const char *id)
{
	return (size_t)(rl_hash64(id, strlen(id)) + input * 0x9E3779B97F4A7C15ull);
}

// index_build indexes the splits by input and id, so that rl_input_find
// does not walk them all (it is asked for every split of a checkpoint and
// of a discovery).
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
		const rl_input_part *p = &in->in_parts[i];
		size_t               h = split_hash(p->ip_input, p->ip_id) & (cap - 1);
		while (in->in_index[h] >= 0)
			h = (h + 1) & (cap - 1);
		in->in_index[h] = (int)i;
	}
}

// member_positions asks member m for its splits' earliest or latest
// positions, into ret[m_first …].
static rl_err
member_positions(
    rl_input *in, size_t m, rl_source_position which, int64_t *ret, char *errbuf, size_t errlen)
{
	member *mb = &in->in_members[m];
	if (mb->m_n == 0)
		return RL_OK;
	return mb->m_ops->sd_positions(mb->m_state, &in->in_ids[mb->m_first], mb->m_n, which,
	    &ret[mb->m_first], errbuf, errlen);
}

// discover takes member m's list of splits (its order), keeping what is
// known of splits seen before. At creation they are not positioned yet;
// found later they start at the earliest position.
static rl_err
discover(rl_input *in, size_t m, bool initial, char *errbuf, size_t errlen)
{
	member        *mb = &in->in_members[m];
	rl_split_desc *descs;
	size_t         n;
	rl_err         rv = mb->m_ops->sd_discover(mb->m_state, &descs, &n, errbuf, errlen);
	mb->m_discovered_ms = rl_mono_ms();
	if (rv != RL_OK)
		return rv;
	rl_input_part *mine = rl_calloc(n + mb->m_n + 1, sizeof(rl_input_part));
	size_t         fresh = 0;
	bool           moved = false;
	for (size_t i = 0; i < n; i++) {
		int old = rl_input_find_in(in, (uint32_t)m, mb->m_ops->sd_name, descs[i].sd_id);
		moved |= old != (int)(mb->m_first + i);
		if (old >= 0) {
			mine[i] = in->in_parts[old];
			in->in_parts[old].ip_id = NULL; // moved
			in->in_parts[old].ip_opaque = NULL;
			rl_free(descs[i].sd_id);
			rl_free(descs[i].sd_opaque);
		} else {
			mine[i] = (rl_input_part) {
				.ip_id = descs[i].sd_id,
				.ip_opaque = descs[i].sd_opaque,
				.ip_opaque_len = descs[i].sd_opaque_len,
				.ip_input = (uint32_t)m,
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
	for (size_t k = mb->m_first; k < mb->m_first + mb->m_n; k++)
		if (in->in_parts[k].ip_id != NULL)
			mine[kept++] = in->in_parts[k];
	// The member's new splits take the place of its old ones.
	size_t         old_n = mb->m_n, after = in->in_nparts - mb->m_first - old_n;
	size_t         total = in->in_nparts - old_n + kept;
	rl_input_part *parts = rl_calloc(total + 1, sizeof(rl_input_part));
	if (mb->m_first > 0)
		memcpy(parts, in->in_parts, mb->m_first * sizeof(rl_input_part));
	memcpy(parts + mb->m_first, mine, kept * sizeof(rl_input_part));
	if (after > 0)
		memcpy(parts + mb->m_first + kept, in->in_parts + mb->m_first + old_n,
		    after * sizeof(rl_input_part));
	rl_free(mine);
	rl_free(in->in_parts);
	in->in_parts = parts;
	in->in_nparts = total;
	for (size_t k = m + 1; k < in->in_nmembers; k++)
		in->in_members[k].m_first = in->in_members[k].m_first - old_n + kept;
	mb->m_n = kept;
	in->in_generation += moved || kept != n || (kept != old_n && after > 0);
	in->in_ids = rl_realloc(in->in_ids, (total + 1) * sizeof(char *));
	for (size_t i = 0; i < total; i++)
		in->in_ids[i] = parts[i].ip_id;
	index_build(in);
	if (initial || fresh == 0)
		return RL_OK;
	// Splits found after the start begin at their earliest position.
	int64_t *earliest = rl_calloc(total + 1, sizeof(int64_t));
	rv = member_positions(in, m, RL_POSITION_EARLIEST, earliest, errbuf, errlen);
	for (size_t i = mb->m_first; rv == RL_OK && i < mb->m_first + mb->m_n; i++) {
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
rl_input_create_inputs(
    const rl_job *const *jobs, size_t njobs, rl_input **ret, char *errbuf, size_t errlen)
{
	rl_input *in = RL_NEW(rl_input);
	in->in_members = rl_calloc(njobs + 1, sizeof(member));
	rl_err rv = RL_OK;
	for (size_t m = 0; m < njobs; m++) {
		const rl_job               *job = jobs[m];
		const char                 *kind = rl_job_source_kind(job);
		const rl_source_driver_ops *ops = rl_source_driver_find(kind);
		if (ops == NULL || ops->sd_version != RL_SOURCE_DRIVER_VERSION) {
			snprintf(errbuf, errlen, "%s: source '%s' has no driver half in this rill",
			    job->j_filename, kind);
			rv = RL_ERR_NOTSUP;
			goto err_input;
		}
		member *mb = &in->in_members[in->in_nmembers++];
		mb->m_ops = ops;
		mb->m_state = rl_calloc(1, ops->sd_state_size > 0 ? ops->sd_state_size : 1);
		mb->m_opened = true;
		mb->m_first = in->in_nparts;
		if ((rv = ops->sd_open(mb->m_state, job, &mb->m_limits, errbuf, errlen)) != RL_OK)
			goto err_input;
		if ((rv = discover(in, m, true, errbuf, errlen)) != RL_OK)
			goto err_input;
	}
	*ret = in;
	return RL_OK;
err_input:
	rl_input_destroy(in);
	return rv;
}

rl_err
rl_input_create(const rl_job *job, rl_input **ret, char *errbuf, size_t errlen)
{
	return rl_input_create_inputs(&job, 1, ret, errbuf, errlen);
}

void
rl_input_destroy(rl_input *in)
{
	if (in == NULL)
		return;
	for (size_t m = 0; m < in->in_nmembers; m++) {
		if (in->in_members[m].m_opened)
			in->in_members[m].m_ops->sd_close(in->in_members[m].m_state);
		rl_free(in->in_members[m].m_state);
	}
	rl_free(in->in_members);
	for (size_t i = 0; i < in->in_nparts; i++)
		part_free(&in->in_parts[i]);
	rl_free(in->in_parts);
	rl_free(in->in_ids);
	rl_free(in->in_index);
	rl_free(in);
}

const char *
rl_input_connector(const rl_input *in)
{
	return in->in_members[0].m_ops->sd_name;
}

const char *
rl_input_member_connector(const rl_input *in, uint32_t input)
{
	return in->in_members[input < in->in_nmembers ? input : 0].m_ops->sd_name;
}

const rl_source_limits *
rl_input_limits(const rl_input *in)
{
	return &in->in_members[0].m_limits;
}

const rl_source_limits *
rl_input_member_limits(const rl_input *in, uint32_t input)
{
	return &in->in_members[input < in->in_nmembers ? input : 0].m_limits;
}

size_t
rl_input_members(const rl_input *in)
{
	return in->in_nmembers;
}

int
rl_input_find_in(rl_input *in, uint32_t input, const char *kind, const char *id)
{
	if (kind == NULL || id == NULL || input >= in->in_nmembers
	    || strcmp(kind, in->in_members[input].m_ops->sd_name) != 0 || in->in_index_cap == 0)
		return -1;
	size_t mask = in->in_index_cap - 1, h = split_hash(input, id) & mask;
	// A split moved out during a discovery keeps its slot with no id.
	for (; in->in_index[h] >= 0; h = (h + 1) & mask) {
		const rl_input_part *at = &in->in_parts[in->in_index[h]];
		if (at->ip_id != NULL && at->ip_input == input && strcmp(at->ip_id, id) == 0)
			return in->in_index[h];
	}
	return -1;
}

int
rl_input_find(rl_input *in, const char *kind, const char *id)
{
	return rl_input_find_in(in, 0, kind, id);
}

rl_err
rl_input_start(rl_input *in, const Rill__BatchRecord *ckp, char *errbuf, size_t errlen)
{
	int64_t *earliest = rl_calloc(in->in_nparts + 1, sizeof(int64_t));
	int64_t *next = NULL;
	rl_err   rv = rl_input_earliest(in, earliest, errbuf, errlen);
	if (rv != RL_OK)
		goto out;
	for (size_t i = 0; i < in->in_nparts; i++)
		in->in_parts[i].ip_next = earliest[i];
	if (ckp != NULL) {
		bool done = ckp->phase == RILL__BATCH_RECORD__PHASE__DONE;
		for (size_t r = 0; r < ckp->n_splits; r++) {
			const Rill__SplitRange *sr = ckp->splits[r];
			int i = rl_input_find_in(in, sr->input, sr->kind, sr->id);
			if (i >= 0)
				in->in_parts[i].ip_next = done ? sr->until : sr->from;
		}
		goto out;
	}
	next = rl_calloc(in->in_nparts + 1, sizeof(int64_t));
	for (size_t m = 0; rv == RL_OK && m < in->in_nmembers; m++) {
		member *mb = &in->in_members[m];
		if (mb->m_n > 0)
			rv = mb->m_ops->sd_start(mb->m_state, &in->in_ids[mb->m_first], mb->m_n,
			    &earliest[mb->m_first], &next[mb->m_first], errbuf, errlen);
	}
	for (size_t i = 0; rv == RL_OK && i < in->in_nparts; i++)
		in->in_parts[i].ip_next = next[i];
out:
	rl_free(next);
	rl_free(earliest);
	return rv;
}

rl_err
rl_input_earliest(rl_input *in, int64_t *ret, char *errbuf, size_t errlen)
{
	rl_err rv = RL_OK;
	for (size_t m = 0; rv == RL_OK && m < in->in_nmembers; m++)
		rv = member_positions(in, m, RL_POSITION_EARLIEST, ret, errbuf, errlen);
	return rv;
}

rl_err
rl_input_commit(rl_input *in, char *errbuf, size_t errlen)
{
	const char **ids = rl_calloc(in->in_nparts + 1, sizeof(char *));
	int64_t     *next = rl_calloc(in->in_nparts + 1, sizeof(int64_t));
	rl_err       rv = RL_OK;
	for (size_t m = 0; m < in->in_nmembers; m++) {
		member *mb = &in->in_members[m];
		if (mb->m_ops->sd_commit == NULL)
			continue;
		size_t n = 0;
		for (size_t i = mb->m_first; i < mb->m_first + mb->m_n; i++) {
			const rl_input_part *p = &in->in_parts[i];
			if (p->ip_next < 0 || p->ip_next == p->ip_committed)
				continue;
			ids[n] = p->ip_id;
			next[n++] = p->ip_next;
		}
		rl_err mrv = n > 0 ? mb->m_ops->sd_commit(mb->m_state, ids, next, n, errbuf, errlen)
		                   : RL_OK;
		for (size_t i = mb->m_first; mrv == RL_OK && i < mb->m_first + mb->m_n; i++)
			if (in->in_parts[i].ip_next >= 0)
				in->in_parts[i].ip_committed = in->in_parts[i].ip_next;
		if (mrv != RL_OK)
			rv = mrv;
	}
	rl_free(ids);
	rl_free(next);
	return rv;
}

rl_err
rl_input_refresh(rl_input *in, char *errbuf, size_t errlen)
{
	for (size_t m = 0; m < in->in_nmembers; m++) {
		if (rl_mono_ms() - in->in_members[m].m_discovered_ms < DISCOVER_EVERY_MS)
			continue;
		char why[512];
		if (discover(in, m, false, why, sizeof(why)) != RL_OK)
			rl_warn("driver", "split discovery failed",
			    "source=%s input=%zu error=\"%s\"", in->in_members[m].m_ops->sd_name, m,
			    why);
	}
	int64_t *latest = rl_calloc(in->in_nparts + 1, sizeof(int64_t));
	rl_err   rv = RL_OK;
	for (size_t m = 0; rv == RL_OK && m < in->in_nmembers; m++)
		rv = member_positions(in, m, RL_POSITION_LATEST, latest, errbuf, errlen);
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
	const rl_input_part *p = &in->in_parts[i];
	const member        *mb = &in->in_members[p->ip_input];
	int                  n = 0;
	if (p->ip_input > 0)
		n = snprintf(buf, len, "input=%" PRIu32 " ", p->ip_input);
	if (n < 0 || (size_t)n >= len)
		return;
	if (mb->m_ops->sd_describe != NULL)
		mb->m_ops->sd_describe(mb->m_state, p->ip_id, buf + n, len - (size_t)n);
	else
		snprintf(buf + n, len - (size_t)n, "split=%s", p->ip_id);
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
