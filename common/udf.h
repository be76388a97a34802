// SPDX-License-Identifier: Apache-2.0
// User-function libraries (a job's artifact, include/rill.h): verified by
// sha256, loaded, checked for an ABI this build knows, and bound to the
// job's `{udf: NAME}` steps. The only module that calls dlopen.
#ifndef RL_UDF_H
#define RL_UDF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/jobfile.h"
#include "common/sha256.h"

typedef struct rl_udf_lib rl_udf_lib;

// Largest artifact accepted (as ZooKeeper's chunks allow: 10000 x 512 KiB
// would be 5 GiB; a library of user functions is far smaller).
#define RL_UDF_ARTIFACT_MAX (256u * 1024u * 1024u)

// rl_udf_lib_load loads the library whose bytes are data[0 .. len), which
// must hash to sha (lowercase hex): the bytes go to a sealed anonymous file
// (memfd, private to this process, immutable once sealed), that file's
// content is hashed, and only when it matches is it dlopen'ed. Then the
// library's rill_udf_library descriptor must name an ABI version this build
// knows, and its table must be well formed (names unique C identifiers,
// kinds known, each with its function); its init runs last. Errors, with
// the reason in errbuf: RL_ERR_AUTH (the sha256 does not match: nothing was
// loaded), RL_ERR_VERSION (an unknown ABI), RL_ERR_INVAL (not a loadable
// library, no descriptor, a malformed table, init refused), RL_ERR_IO.
// *ret (rl_udf_lib_destroy) is written only on success.
// @locality any thread
rl_err rl_udf_lib_load(
    const void *data, size_t len, const char *sha, rl_udf_lib **ret, char *errbuf, size_t errlen);

// rl_udf_lib_read reads the file at path whole into *ret_data (rl_free) and
// its sha256 into sha. A missing or unreadable file is RL_ERR_IO, one over
// RL_UDF_ARTIFACT_MAX RL_ERR_INVAL, each with "path: reason" in errbuf.
rl_err rl_udf_lib_read(const char *path, void **ret_data, size_t *ret_len,
    char sha[RL_SHA256_HEX_LEN], char *errbuf, size_t errlen);

// rl_udf_lib_destroy runs the library's fini and unloads it; NULL is a
// no-op. Nothing bound to it may run any more.
void rl_udf_lib_destroy(rl_udf_lib *lib);

// rl_udf_lib_sha is the library's sha256 (lowercase hex).
const char *rl_udf_lib_sha(const rl_udf_lib *lib);

// rl_job_uses_udfs tells whether any step of job names a {udf: NAME}.
bool rl_job_uses_udfs(const rl_job *job);

// rl_udf_bind points every {udf: NAME} step of job at lib's function of
// that name (s_udf, s_udf_data), checking that its kind fits the operator.
// lib may be NULL (the job came without an artifact). A name lib does not
// have, a kind that does not fit, or a udf without a library is
// RL_ERR_INVAL with "FILE:LINE:COL: …" (the step's place in the job file)
// in errbuf; steps bound before the error stay bound.
rl_err rl_udf_bind(const rl_udf_lib *lib, rl_job *job, char *errbuf, size_t errlen);

// rl_udf_check tells whether job can run with the artifact data[0 ..
// len) (sha256 sha): a job without user functions always can (the artifact
// is not loaded); otherwise the library is loaded here (see rl_udf_lib_load:
// its code runs in this process) and bound to a copy of the job, then
// unloaded. data NULL: the job comes without an artifact. Errors as
// rl_udf_lib_load's and rl_udf_bind's, with the reason in errbuf.
rl_err rl_udf_check(
    const rl_job *job, const void *data, size_t len, const char *sha, char *errbuf, size_t errlen);

// rl_udf_artifact_for reads the artifact at path (NULL: the job names
// none) and checks job against it (rl_udf_check): what `rill run`,
// `rill-driver --job` and `rill submit` do before anything starts, so that
// what is checked is what is served. On success *ret_data (rl_free; NULL
// without a path), *ret_len and sha are set; a read error says "--artifact
// path: reason" in errbuf, a check error as rl_udf_check.
rl_err rl_udf_artifact_for(const rl_job *job, const char *path, void **ret_data, size_t *ret_len,
    char sha[RL_SHA256_HEX_LEN], char *errbuf, size_t errlen);

#endif
