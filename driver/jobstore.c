// SPDX-License-Identifier: Apache-2.0
// The cluster's jobs, their artifacts and their batch logs as nodes in ZooKeeper.
#include "driver/jobstore.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "driver/batch_log.h"

#define JOBS "/rill/jobs"
#define ARTIFACTS "/rill/artifacts"
#define JOB_NAME_MAX 64

static const char *const desired_names[] = {
	[RL_DESIRED_RUN] = "run",
	[RL_DESIRED_STOP] = "stop",
	[RL_DESIRED_STOP_GRACEFUL] = "stop-graceful",
};
#define NDESIRED (sizeof(desired_names) / sizeof(desired_names[0]))

const char *
rl_desired_name(rl_desired desired)
{
	return (size_t)desired < NDESIRED ? desired_names[desired] : "?";
}

bool
rl_desired_parse(const char *text, size_t len, rl_desired *ret)
{
	while (len > 0 && isspace((unsigned char)text[0])) {
		text++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	for (size_t i = 0; i < NDESIRED; i++) {
		if (strlen(desired_names[i]) == len && memcmp(desired_names[i], text, len) == 0) {
			*ret = (rl_desired)i;
			return true;
		}
	}
	return false;
}

bool
rl_jobstore_valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > JOB_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')
		        || name[i] == '-'))
			return false;
	return true;
}

static rl_err
check_name(const char *job, char *errbuf, size_t errlen)
{
	if (rl_jobstore_valid_name(job))
		return RL_OK;
	snprintf(errbuf, errlen, "'%s' is not a job name ([a-z0-9-]{1,64})", job);
	return RL_ERR_INVAL;
}

// ---- artifacts ----

static unsigned char *
pack_artifact(const Rill__Artifact *a, size_t *ret_len)
{
	size_t         len = rill__artifact__get_packed_size(a);
	unsigned char *buf = rl_malloc(len > 0 ? len : 1);
	rill__artifact__pack(a, buf);
	*ret_len = len;
	return buf;
}

// read_artifact reads the artifact at path as its parent node a describes,
// and checks its chunks' names, their total size and their digest.
static rl_err
read_artifact(rl_zk *zk, const char *path, const Rill__Artifact *a, unsigned char **ret,
    size_t *ret_len, char *errbuf, size_t errlen)
{
	char **names = NULL;
	size_t count = 0;
	char   hex[RL_SHA256_HEX_LEN];
	rl_err rv = rl_zk_children(zk, path, &names, &count, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	unsigned char *bytes = NULL;
	if (count != a->chunks) {
		snprintf(errbuf, errlen, "artifact %s: %zu chunks, its node says %" PRIu32, path,
		    count, a->chunks);
		rv = RL_ERR_IO;
		goto err_names;
	}
	bytes = rl_malloc(a->size > 0 ? (size_t)a->size : 1);
	size_t    got = 0;
	rl_sha256 sha;
	rl_sha256_init(&sha);
	for (size_t i = 0; i < count; i++) {
		char want[24];
		snprintf(want, sizeof(want), "%04zu", i);
		if (strcmp(names[i], want) != 0) {
			snprintf(errbuf, errlen, "artifact %s: chunk %s is missing (found %s)",
			    path, want, names[i]);
			rv = RL_ERR_IO;
			goto err_sha;
		}
		char  *chunk_path = rl_strdup_printf("%s/%s", path, want);
		char  *chunk;
		size_t len;
		rv = rl_zk_get(zk, chunk_path, &chunk, &len, errbuf, errlen);
		rl_free(chunk_path);
		if (rv != RL_OK)
			goto err_sha;
		if (len > a->size - got) {
			rl_free(chunk);
			snprintf(errbuf, errlen, "artifact %s: more bytes than its size %" PRIu64,
			    path, a->size);
			rv = RL_ERR_IO;
			goto err_sha;
		}
		memcpy(bytes + got, chunk, len);
		rl_sha256_update(&sha, chunk, len);
		got += len;
		rl_free(chunk);
	}
	rl_sha256_final(&sha, hex);
	if (got != a->size || strcmp(hex, a->sha256) != 0) {
		snprintf(errbuf, errlen,
		    "artifact %s: read back %zu bytes with sha256 %s, expected %" PRIu64
		    " bytes with sha256 %s",
		    path, got, hex, a->size, a->sha256);
		rv = RL_ERR_IO;
		goto err_bytes;
	}
	rl_zk_free_names(names);
	*ret = bytes;
	*ret_len = got;
	return RL_OK;

err_sha:
	rl_sha256_final(&sha, hex);
err_bytes:
	rl_free(bytes);
err_names:
	rl_zk_free_names(names);
	return rv;
}

// get_artifact_node reads the parent node of an artifact; *ret = NULL when
// there is none.
static rl_err
get_artifact_node(rl_zk *zk, const char *path, Rill__Artifact **ret, int32_t *ret_version,
    char *errbuf, size_t errlen)
{
	char      *data;
	size_t     len;
	rl_zk_stat st;
	rl_err     rv = rl_zk_get_stat(zk, path, NULL, 0, &data, &len, &st, errbuf, errlen);
	if (rv == RL_ERR_NOENT) {
		*ret = NULL;
		return RL_OK;
	}
	if (rv != RL_OK)
		return rv;
	Rill__Artifact *a = rill__artifact__unpack(NULL, len, (const uint8_t *)data);
	rl_free(data);
	if (a == NULL || a->version != RL_ARTIFACT_VERSION) {
		snprintf(errbuf, errlen, "artifact %s: not an Artifact of version %d", path,
		    RL_ARTIFACT_VERSION);
		if (a != NULL)
			rill__artifact__free_unpacked(a, NULL);
		return RL_ERR_PARSE;
	}
	*ret = a;
	*ret_version = st.version;
	return RL_OK;
}

rl_err
rl_jobstore_put_artifact(rl_zk *zk, const void *data, size_t len, char sha[RL_SHA256_HEX_LEN],
    bool *ret_written, char *errbuf, size_t errlen)
{
	size_t chunks = (len + RL_ARTIFACT_CHUNK - 1) / RL_ARTIFACT_CHUNK;
	if (chunks > RL_ARTIFACT_CHUNKS_MAX) {
		snprintf(errbuf, errlen,
		    "an artifact of %zu bytes is more than %d chunks of %d bytes", len,
		    RL_ARTIFACT_CHUNKS_MAX, RL_ARTIFACT_CHUNK);
		return RL_ERR_INVAL;
	}
	char hex[RL_SHA256_HEX_LEN];
	rl_sha256_hex(data, len, hex);
	char           *path = rl_strdup_printf(ARTIFACTS "/%s", hex);
	Rill__Artifact *old = NULL;
	int32_t         version = 0;
	unsigned char  *node = NULL, *back = NULL;
	size_t          node_len, back_len;
	rl_err          rv = get_artifact_node(zk, path, &old, &version, errbuf, errlen);
	if (rv != RL_OK && rv != RL_ERR_PARSE)
		goto out;
	if (old != NULL && old->complete && old->size == len && strcmp(old->sha256, hex) == 0) {
		rill__artifact__free_unpacked(old, NULL);
		memcpy(sha, hex, RL_SHA256_HEX_LEN);
		*ret_written = false;
		rv = RL_OK;
		goto out;
	}
	if (old != NULL)
		rill__artifact__free_unpacked(old, NULL);
	// What is there is a submit's leftover (or unreadable): write it anew.
	if (rv == RL_ERR_PARSE || old != NULL) {
		if ((rv = rl_zk_delete(zk, path, true, errbuf, errlen)) != RL_OK)
			goto out;
	}
	Rill__Artifact a = RILL__ARTIFACT__INIT;
	a.version = RL_ARTIFACT_VERSION;
	a.sha256 = hex;
	a.size = len;
	a.chunk_size = RL_ARTIFACT_CHUNK;
	a.chunks = (uint32_t)chunks;
	node = pack_artifact(&a, &node_len);
	rv = rl_zk_create(zk, path, node, node_len, 0, NULL, errbuf, errlen);
	if (rv == RL_ERR_EXISTS) {
		snprintf(errbuf, errlen,
		    "artifact %s is being written by another submit now; submit again when it is "
		    "done",
		    path);
		goto out;
	}
	if (rv != RL_OK)
		goto out;
	for (size_t i = 0; i < chunks; i++) {
		size_t off = i * RL_ARTIFACT_CHUNK;
		size_t n = len - off < RL_ARTIFACT_CHUNK ? len - off : RL_ARTIFACT_CHUNK;
		char  *chunk_path = rl_strdup_printf("%s/%04zu", path, i);
		rv = rl_zk_create(
		    zk, chunk_path, (const char *)data + off, n, 0, NULL, errbuf, errlen);
		rl_free(chunk_path);
		if (rv != RL_OK)
			goto out;
	}
	// Read it all back and hash it before anyone may use it.
	if ((rv = read_artifact(zk, path, &a, &back, &back_len, errbuf, errlen)) != RL_OK)
		goto out;
	rl_free(node);
	a.complete = true;
	node = pack_artifact(&a, &node_len);
	if ((rv = rl_zk_set_version(zk, path, node, node_len, 0, NULL, errbuf, errlen)) != RL_OK)
		goto out;
	memcpy(sha, hex, RL_SHA256_HEX_LEN);
	*ret_written = true;
out:
	rl_free(back);
	rl_free(node);
	rl_free(path);
	return rv;
}

rl_err
rl_jobstore_get_artifact(
    rl_zk *zk, const char *sha, unsigned char **ret, size_t *ret_len, char *errbuf, size_t errlen)
{
	char           *path = rl_strdup_printf(ARTIFACTS "/%s", sha);
	Rill__Artifact *a = NULL;
	int32_t         version;
	rl_err          rv = get_artifact_node(zk, path, &a, &version, errbuf, errlen);
	if (rv == RL_OK && (a == NULL || !a->complete)) {
		snprintf(errbuf, errlen, "artifact %s: %s", path,
		    a == NULL ? "no such artifact" : "incomplete (its submit did not finish)");
		rv = RL_ERR_NOENT;
	}
	if (rv == RL_OK)
		rv = read_artifact(zk, path, a, ret, ret_len, errbuf, errlen);
	if (a != NULL)
		rill__artifact__free_unpacked(a, NULL);
	rl_free(path);
	return rv;
}

// ---- jobs ----

rl_err
rl_jobstore_get_spec(rl_zk *zk, const char *job, Rill__JobSpec **ret, int32_t *ret_version,
    char *errbuf, size_t errlen)
{
	rl_err rv;
	if ((rv = check_name(job, errbuf, errlen)) != RL_OK)
		return rv;
	char      *path = rl_strdup_printf(JOBS "/%s/spec", job);
	char      *data;
	size_t     len;
	rl_zk_stat st;
	rv = rl_zk_get_stat(zk, path, NULL, 0, &data, &len, &st, errbuf, errlen);
	if (rv != RL_OK)
		goto out;
	Rill__JobSpec *spec = rill__job_spec__unpack(NULL, len, (const uint8_t *)data);
	rl_free(data);
	if (spec == NULL || spec->version != RL_JOBSPEC_VERSION) {
		snprintf(
		    errbuf, errlen, "%s: not a JobSpec of version %d", path, RL_JOBSPEC_VERSION);
		if (spec != NULL)
			rill__job_spec__free_unpacked(spec, NULL);
		rv = RL_ERR_PARSE;
		goto out;
	}
	*ret = spec;
	if (ret_version != NULL)
		*ret_version = st.version;
out:
	rl_free(path);
	return rv;
}

rl_err
rl_jobstore_put(rl_zk *zk, const char *job, Rill__JobSpec *spec, int32_t version,
    rl_desired desired, int32_t *ret_version, char *errbuf, size_t errlen)
{
	rl_err rv;
	if ((rv = check_name(job, errbuf, errlen)) != RL_OK)
		return rv;
	char *dir = rl_strdup_printf(JOBS "/%s", job);
	char *spec_path = rl_strdup_printf("%s/spec", dir);
	char *desired_path = rl_strdup_printf("%s/desired", dir);
	spec->version = RL_JOBSPEC_VERSION;
	size_t         len = rill__job_spec__get_packed_size(spec);
	unsigned char *bytes = rl_malloc(len > 0 ? len : 1);
	rill__job_spec__pack(spec, bytes);
	const char *state = rl_desired_name(desired);
	rl_zk_op    ops[2];
	// The job's node may exist already (a driver joined its election, or it
	// was submitted before); the multi-op needs it as a parent.
	rv = rl_zk_create(zk, dir, NULL, 0, 0, NULL, errbuf, errlen);
	if (rv != RL_OK && rv != RL_ERR_EXISTS)
		goto out;
	rv = rl_zk_exists(zk, desired_path, NULL, 0, NULL, errbuf, errlen);
	if (rv != RL_OK && rv != RL_ERR_NOENT)
		goto out;
	bool has_desired = rv == RL_OK;
	ops[0] = version < 0 ? rl_zk_op_create(spec_path, bytes, len, 0)
	                     : rl_zk_op_set(spec_path, bytes, len, version);
	ops[1] = has_desired ? rl_zk_op_set(desired_path, state, strlen(state), -1)
	                     : rl_zk_op_create(desired_path, state, strlen(state), 0);
	rv = rl_zk_multi(zk, ops, 2, NULL, errbuf, errlen);
	if (rv == RL_OK && ret_version != NULL)
		*ret_version = version < 0 ? 0 : ops[0].new_version;
	rl_zk_ops_fini(ops, 2);
out:
	rl_free(bytes);
	rl_free(desired_path);
	rl_free(spec_path);
	rl_free(dir);
	return rv;
}

rl_err
rl_jobstore_set_desired(rl_zk *zk, const char *job, rl_desired desired, char *errbuf, size_t errlen)
{
	rl_err rv;
	if ((rv = check_name(job, errbuf, errlen)) != RL_OK)
		return rv;
	char       *spec_path = rl_strdup_printf(JOBS "/%s/spec", job);
	char       *desired_path = rl_strdup_printf(JOBS "/%s/desired", job);
	const char *state = rl_desired_name(desired);
	rv = rl_zk_exists(zk, desired_path, NULL, 0, NULL, errbuf, errlen);
	if (rv == RL_OK || rv == RL_ERR_NOENT) {
		// The spec must be there: a job that was never submitted has
		// nothing to stop.
		rl_zk_op ops[2] = {
			rl_zk_op_check(spec_path, -1),
			rv == RL_OK ? rl_zk_op_set(desired_path, state, strlen(state), -1)
			            : rl_zk_op_create(desired_path, state, strlen(state), 0),
		};
		size_t failed = 0;
		rv = rl_zk_multi(zk, ops, 2, &failed, errbuf, errlen);
		if (rv == RL_ERR_NOENT && failed == 0)
			snprintf(errbuf, errlen, "no job '%s' was submitted", job);
		rl_zk_ops_fini(ops, 2);
	}
	rl_free(desired_path);
	rl_free(spec_path);
	return rv;
}

rl_err
rl_jobstore_get_desired(rl_zk *zk, const char *job, rl_desired *ret, char *errbuf, size_t errlen)
{
	rl_err rv;
	if ((rv = check_name(job, errbuf, errlen)) != RL_OK)
		return rv;
	char  *path = rl_strdup_printf(JOBS "/%s/desired", job);
	char  *data;
	size_t len;
	if ((rv = rl_zk_get(zk, path, &data, &len, errbuf, errlen)) == RL_OK) {
		if (!rl_desired_parse(data, len, ret)) {
			snprintf(errbuf, errlen, "%s: '%.*s' is not run, stop or stop-graceful",
			    path, (int)(len < 64 ? len : 64), data);
			rv = RL_ERR_PARSE;
		}
		rl_free(data);
	}
	rl_free(path);
	return rv;
}

rl_err
rl_jobstore_jobs(rl_zk *zk, char ***ret, size_t *ret_count, char *errbuf, size_t errlen)
{
	char **names = NULL;
	size_t count = 0;
	rl_err rv = rl_zk_children(zk, JOBS, &names, &count, errbuf, errlen);
	if (rv == RL_ERR_NOENT) {
		*ret = rl_calloc(1, sizeof(char *));
		*ret_count = 0;
		return RL_OK;
	}
	if (rv != RL_OK)
		return rv;
	size_t out = 0;
	for (size_t i = 0; i < count; i++) {
		char *path = rl_strdup_printf(JOBS "/%s/spec", names[i]);
		rv = rl_zk_exists(zk, path, NULL, 0, NULL, errbuf, errlen);
		rl_free(path);
		if (rv != RL_OK && rv != RL_ERR_NOENT) {
			rl_zk_free_names(names);
			return rv;
		}
		if (rv == RL_OK && rl_jobstore_valid_name(names[i]))
			names[out++] = names[i];
		else
			rl_free(names[i]);
	}
	names[out] = NULL;
	*ret = names;
	*ret_count = out;
	return RL_OK;
}

// ---- the batch log ----

rl_err
rl_jobstore_log(rl_zk *zk, const char *job, unsigned mask, size_t max, Rill__BatchRecord ***ret,
    size_t *ret_count, char *errbuf, size_t errlen)
{
	rl_err rv;
	if ((rv = check_name(job, errbuf, errlen)) != RL_OK)
		return rv;
	return rl_batch_log_zk_read(zk, job, mask, max, ret, ret_count, errbuf, errlen);
}

void
rl_jobstore_log_free(Rill__BatchRecord **recs, size_t count)
{
	if (recs == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		rill__batch_record__free_unpacked(recs[i], NULL);
	rl_free(recs);
}
