// SPDX-License-Identifier: Apache-2.0
// Fetching, verifying and caching artifacts (user-function libraries).
#include "executor/artifacts.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "common/rpc.h"
#include "common/time.h"

#define COMP "executor"
#define CONNECT_MS 5000
#define FETCH_MS 60000

typedef struct loaded {
	struct loaded *l_next;
	rl_udf_lib    *l_lib;
} loaded;

struct rl_artifacts {
	pthread_mutex_t a_mu; // guards a_libs; held through a load
	loaded         *a_libs;
};

rl_artifacts *
rl_artifacts_create(void)
{
	rl_artifacts *a = RL_NEW(rl_artifacts);
	pthread_mutex_init(&a->a_mu, NULL);
	return a;
}

void
rl_artifacts_destroy(rl_artifacts *a)
{
	if (a == NULL)
		return;
	for (loaded *l = a->a_libs; l != NULL;) {
		loaded *next = l->l_next;
		rl_udf_lib_destroy(l->l_lib);
		rl_free(l);
		l = next;
	}
	pthread_mutex_destroy(&a->a_mu);
	rl_free(a);
}

// fetch asks url for the artifact's bytes; *ret (rl_msg_free) holds them
// as its tail.
static rl_err
fetch(const char *sha, const char *url, rl_msg **ret, char *errbuf, size_t errlen)
{
	rl_rpc_client *cli;
	char           why[512];
	rl_err         rv = rl_rpc_client_create(url, &cli, why, sizeof(why));
	if (rv != RL_OK) {
		snprintf(errbuf, errlen, "artifact %.12s: cannot dial the driver at %s: %s", sha,
		    url, why);
		return rv;
	}
	if (!rl_rpc_client_wait_connected(cli, CONNECT_MS)) {
		snprintf(errbuf, errlen,
		    "artifact %.12s: the driver at %s did not answer within %d ms", sha, url,
		    CONNECT_MS);
		rv = RL_ERR_NET;
		goto out;
	}
	Rill__ArtifactFetch req = RILL__ARTIFACT_FETCH__INIT;
	req.sha256 = (char *)(uintptr_t)sha;
	Rill__Envelope env = RILL__ENVELOPE__INIT;
	env.body_case = RILL__ENVELOPE__BODY_ARTIFACT_FETCH;
	env.artifact_fetch = &req;
	rl_msg *reply = NULL;
	if ((rv = rl_rpc_call(cli, &env, NULL, 0, FETCH_MS, &reply, why, sizeof(why))) != RL_OK) {
		snprintf(errbuf, errlen, "artifact %.12s: fetch from the driver at %s: %s", sha,
		    url, why);
		goto out;
	}
	const Rill__ArtifactData *d = reply->m_env->artifact_data;
	if (reply->m_env->body_case != RILL__ENVELOPE__BODY_ARTIFACT_DATA
	    || d->size != reply->m_tail_len || reply->m_tail_len > RL_UDF_ARTIFACT_MAX) {
		snprintf(errbuf, errlen,
		    "artifact %.12s: the driver at %s answered something else than its bytes", sha,
		    url);
		rl_msg_free(reply);
		rv = RL_ERR_PROTO;
		goto out;
	}
	*ret = reply;
out:
	rl_rpc_client_destroy(cli);
	return rv;
}

rl_err
rl_artifacts_get(rl_artifacts *a, const char *sha, const char *url, const rl_udf_lib **ret,
    char *errbuf, size_t errlen)
{
	pthread_mutex_lock(&a->a_mu);
	rl_err rv = RL_OK;
	for (loaded *l = a->a_libs; l != NULL; l = l->l_next)
		if (strcmp(rl_udf_lib_sha(l->l_lib), sha) == 0) {
			*ret = l->l_lib;
			goto out;
		}
	if (url == NULL || url[0] == '\0') {
		snprintf(
		    errbuf, errlen, "artifact %.12s: the launch says nowhere to fetch it", sha);
		rv = RL_ERR_PROTO;
		goto out;
	}
	int64_t t0 = rl_mono_us();
	rl_msg *m;
	if ((rv = fetch(sha, url, &m, errbuf, errlen)) != RL_OK)
		goto out;
	rl_udf_lib *lib;
	rv = rl_udf_lib_load(m->m_tail, m->m_tail_len, sha, &lib, errbuf, errlen);
	size_t size = m->m_tail_len;
	rl_msg_free(m);
	if (rv != RL_OK)
		goto out;
	loaded *l = RL_NEW(loaded);
	l->l_lib = lib;
	l->l_next = a->a_libs;
	a->a_libs = l;
	*ret = lib;
	rl_info(COMP, "artifact loaded", "sha256=%s bytes=%zu from=%s ms=%lld", sha, size, url,
	    (long long)((rl_mono_us() - t0) / 1000));
out:
	pthread_mutex_unlock(&a->a_mu);
	return rv;
}
