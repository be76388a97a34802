// SPDX-License-Identifier: Apache-2.0
// Loading user-function libraries: sha256 first, dlopen second, ABI third.
#include "common/udf.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rill.h>

#include "common/alloc.h"
#include "common/fsutil.h"

#define MAX_UDFS 4096
#define MAX_NAME 128

struct rl_udf_lib {
	int                 l_fd; // the sealed memfd dlopen read; open while loaded
	void               *l_handle;
	const rill_library *l_desc;
	void               *l_udata; // from the library's init
	bool                l_inited;
	char                l_sha[RL_SHA256_HEX_LEN];
};

// The ABI versions this build runs.
static bool
abi_known(uint32_t version)
{
	return version == RILL_ABI_VERSION;
}

static const char *
kind_name(rill_kind kind)
{
	switch (kind) {
	case RILL_MAP:
		return "map";
	case RILL_FLAT_MAP:
		return "flat_map";
	case RILL_FILTER:
		return "filter";
	case RILL_KEY_BY:
		return "key_by";
	case RILL_MAP_VALUES:
		return "map_values";
	case RILL_REDUCE:
		return "reduce";
	case RILL_UPDATE:
		return "update";
	}
	return NULL;
}

static bool
is_identifier(const char *s, size_t max)
{
	size_t n = 0;
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (; *s != '\0'; s++, n++)
		if (n >= max
		    || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
		        || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

// check_table refuses a descriptor rill could misuse: every entry needs a
// unique name, a kind this ABI defines and the function of that kind.
static rl_err
check_table(const rill_library *d, const char *sha, char *errbuf, size_t errlen)
{
	if (d->nudfs > MAX_UDFS || (d->nudfs > 0 && d->udfs == NULL)) {
		snprintf(errbuf, errlen,
		    "artifact %.12s: its table of functions is malformed (%zu entries)", sha,
		    d->nudfs);
		return RL_ERR_INVAL;
	}
	for (size_t i = 0; i < d->nudfs; i++) {
		const rill_udf *u = &d->udfs[i];
		if (u->name == NULL || !is_identifier(u->name, MAX_NAME)) {
			snprintf(errbuf, errlen,
			    "artifact %.12s: function %zu has no name or one that is not a C "
			    "identifier",
			    sha, i);
			return RL_ERR_INVAL;
		}
		const char *kind = kind_name(u->kind);
		if (kind == NULL) {
			snprintf(errbuf, errlen,
			    "artifact %.12s: function %s has kind %d, which ABI %u does not define",
			    sha, u->name, (int)u->kind, (unsigned)RILL_ABI_VERSION);
			return RL_ERR_INVAL;
		}
		bool has_fn = u->kind == RILL_REDUCE ? u->reduce != NULL
		    : u->kind == RILL_UPDATE         ? u->update != NULL
		                                     : u->fn != NULL;
		if (!has_fn) {
			snprintf(errbuf, errlen, "artifact %.12s: %s function %s has no %s pointer",
			    sha, kind, u->name,
			    u->kind == RILL_REDUCE       ? "reduce"
			        : u->kind == RILL_UPDATE ? "update"
			                                 : "fn");
			return RL_ERR_INVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->udfs[j].name, u->name) == 0) {
				snprintf(errbuf, errlen,
				    "artifact %.12s: function %s is named twice", sha, u->name);
				return RL_ERR_INVAL;
			}
	}
	return RL_OK;
}

// sealed_copy puts data in a memfd nobody can change any more (sealed
// against writes, growth and shrinking) and returns it, or -1 with errbuf.
static int
sealed_copy(const void *data, size_t len, const char *sha, char *errbuf, size_t errlen)
{
	int fd = memfd_create("rill-artifact", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		snprintf(errbuf, errlen, "artifact %.12s: memfd_create: %s", sha, strerror(errno));
		return -1;
	}
	if (rl_write_all(fd, data, len) != 0) {
		snprintf(errbuf, errlen, "artifact %.12s: write: %s", sha, strerror(errno));
		goto err_fd;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
		snprintf(errbuf, errlen, "artifact %.12s: seal: %s", sha, strerror(errno));
		goto err_fd;
	}
	return fd;
err_fd:
	close(fd);
	return -1;
}

// fd_sha hashes the whole content of fd (what dlopen will read).
static bool
fd_sha(int fd, char hex[RL_SHA256_HEX_LEN])
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return false;
	if (st.st_size == 0) {
		rl_sha256_hex("", 0, hex);
		return true;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return false;
	rl_sha256_hex(p, (size_t)st.st_size, hex);
	munmap(p, (size_t)st.st_size);
	return true;
}

rl_err
rl_udf_lib_load(
    const void *data, size_t len, const char *sha, rl_udf_lib **ret, char *errbuf, size_t errlen)
{
	if (sha == NULL || strlen(sha) != RL_SHA256_HEX_LEN - 1) {
		snprintf(errbuf, errlen, "artifact: '%s' is not a sha256", sha != NULL ? sha : "");
		return RL_ERR_INVAL;
	}
	rl_udf_lib *lib = RL_NEW(rl_udf_lib);
	lib->l_fd = -1;
	snprintf(lib->l_sha, sizeof(lib->l_sha), "%s", sha);
	rl_err rv = RL_ERR_IO;
	if ((lib->l_fd = sealed_copy(data, len, sha, errbuf, errlen)) < 0)
		goto err;
	char got[RL_SHA256_HEX_LEN];
	if (!fd_sha(lib->l_fd, got)) {
		snprintf(errbuf, errlen, "artifact %.12s: cannot read it back: %s", sha,
		    strerror(errno));
		goto err;
	}
	if (strcmp(got, sha) != 0) {
		snprintf(errbuf, errlen,
		    "artifact refused: its bytes hash to sha256 %s, not %s as expected (not "
		    "loaded)",
		    got, sha);
		rv = RL_ERR_AUTH;
		goto err;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", lib->l_fd);
	dlerror();
	if ((lib->l_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		const char *why = dlerror();
		snprintf(errbuf, errlen, "artifact %.12s: not a loadable library: %s", sha,
		    why != NULL ? why : "dlopen failed");
		rv = RL_ERR_INVAL;
		goto err;
	}
	const rill_library *(*entry)(void);
	*(void **)&entry = dlsym(lib->l_handle, RILL_LIBRARY_SYMBOL);
	if (entry == NULL) {
		snprintf(errbuf, errlen,
		    "artifact %.12s: exports no %s (is it built against rill.h?)", sha,
		    RILL_LIBRARY_SYMBOL);
		rv = RL_ERR_INVAL;
		goto err;
	}
	const rill_library *d = entry();
	if (d == NULL) {
		snprintf(errbuf, errlen, "artifact %.12s: %s returned no descriptor", sha,
		    RILL_LIBRARY_SYMBOL);
		rv = RL_ERR_INVAL;
		goto err;
	}
	// Only abi_version is read before it is known: every version keeps it first.
	if (!abi_known(d->abi_version)) {
		snprintf(errbuf, errlen,
		    "artifact %.12s: built for rill ABI version %u, this rill knows version %u "
		    "(rebuild it against this rill's rill.h)",
		    sha, (unsigned)d->abi_version, (unsigned)RILL_ABI_VERSION);
		rv = RL_ERR_VERSION;
		goto err;
	}
	if ((rv = check_table(d, sha, errbuf, errlen)) != RL_OK)
		goto err;
	lib->l_desc = d;
	if (d->init != NULL) {
		char why[256] = "";
		if (d->init(&lib->l_udata, why, sizeof(why)) != 0) {
			snprintf(errbuf, errlen, "artifact %.12s (%s): init refused: %s", sha,
			    d->name != NULL ? d->name : "?",
			    why[0] != '\0' ? why : "no reason given");
			rv = RL_ERR_INVAL;
			goto err;
		}
	}
	lib->l_inited = true;
	*ret = lib;
	return RL_OK;
err:
	rl_udf_lib_destroy(lib);
	return rv;
}

rl_err
rl_udf_lib_read(const char *path, void **ret_data, size_t *ret_len, char sha[RL_SHA256_HEX_LEN],
    char *errbuf, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return RL_ERR_IO;
	}
	struct stat st;
	rl_err      rv = RL_ERR_IO;
	uint8_t    *data = NULL;
	if (fstat(fd, &st) != 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > RL_UDF_ARTIFACT_MAX) {
		snprintf(errbuf, errlen, "%s: %lld bytes, over the %u bytes an artifact may have",
		    path, (long long)st.st_size, RL_UDF_ARTIFACT_MAX);
		rv = RL_ERR_INVAL;
		goto out;
	}
	size_t size = (size_t)st.st_size;
	data = rl_malloc(size + 1);
	if (rl_read_all(fd, data, size) != 0) {
		snprintf(errbuf, errlen, "%s: %s", path,
		    errno != 0 ? strerror(errno) : "shorter than its size");
		goto out;
	}
	rl_sha256_hex(data, size, sha);
	*ret_data = data;
	*ret_len = size;
	data = NULL;
	rv = RL_OK;
out:
	rl_free(data);
	close(fd);
	return rv;
}

void
rl_udf_lib_destroy(rl_udf_lib *lib)
{
	if (lib == NULL)
		return;
	if (lib->l_inited && lib->l_desc->fini != NULL)
		lib->l_desc->fini(lib->l_udata);
	if (lib->l_handle != NULL)
		dlclose(lib->l_handle);
	if (lib->l_fd >= 0)
		close(lib->l_fd);
	rl_free(lib);
}

const char *
rl_udf_lib_sha(const rl_udf_lib *lib)
{
	return lib->l_sha;
}

static bool
steps_use_udfs(const rl_step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (steps[i].s_fn == RL_FN_UDF || steps_use_udfs(steps[i].s_sub, steps[i].s_nsub))
			return true;
	return false;
}

bool
rl_job_uses_udfs(const rl_job *job)
{
	return steps_use_udfs(job->j_steps, job->j_nsteps);
}

// fits tells whether a function of kind may serve as op's function.
static bool
fits(rl_op_kind op, rill_kind kind)
{
	switch (op) {
	case RL_OP_MAP:
		return kind == RILL_MAP;
	case RL_OP_FLAT_MAP:
		return kind == RILL_FLAT_MAP;
	case RL_OP_FILTER:
		return kind == RILL_FILTER;
	case RL_OP_KEY_BY:
		return kind == RILL_KEY_BY;
	case RL_OP_MAP_VALUES:
		return kind == RILL_MAP_VALUES;
	case RL_OP_UPDATE_STATE_BY_KEY:
		return kind == RILL_REDUCE || kind == RILL_UPDATE;
	default: // reduce_by_key, and the windowed and stateful reductions
		return kind == RILL_REDUCE;
	}
}

// wanted names the kinds op takes, for messages.
static const char *
wanted(rl_op_kind op)
{
	switch (op) {
	case RL_OP_MAP:
	case RL_OP_FLAT_MAP:
	case RL_OP_FILTER:
	case RL_OP_KEY_BY:
	case RL_OP_MAP_VALUES:
		return rl_op_name(op);
	case RL_OP_UPDATE_STATE_BY_KEY:
		return "reduce or update";
	default:
		return "reduce";
	}
}

static rl_err
bind_steps(
    const rl_udf_lib *lib, const rl_job *job, rl_step *steps, size_t n, char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		rl_step *s = &steps[i];
		rl_err   rv;
		if ((rv = bind_steps(lib, job, s->s_sub, s->s_nsub, errbuf, errlen)) != RL_OK)
			return rv;
		if (s->s_fn != RL_FN_UDF)
			continue;
		const char *op = rl_op_name(s->s_kind);
		if (lib == NULL) {
			snprintf(errbuf, errlen,
			    "%s:%d:%d: %s: {udf: %s} needs the library that defines it: give it "
			    "with --artifact LIB.so",
			    job->j_filename, s->s_loc.line, s->s_loc.col, op, s->s_arg);
			return RL_ERR_INVAL;
		}
		const rill_library *d = lib->l_desc;
		const rill_udf     *u = NULL;
		for (size_t j = 0; j < d->nudfs && u == NULL; j++)
			if (strcmp(d->udfs[j].name, s->s_arg) == 0)
				u = &d->udfs[j];
		if (u == NULL) {
			char   have[256] = "";
			size_t used = 0;
			for (size_t j = 0; j < d->nudfs && used < sizeof(have); j++) {
				int w = snprintf(have + used, sizeof(have) - used, "%s%s",
				    j > 0 ? ", " : "", d->udfs[j].name);
				if (w < 0)
					break;
				used += (size_t)w;
			}
			snprintf(errbuf, errlen,
			    "%s:%d:%d: %s: {udf: %s}: the artifact (%s, sha256 %.12s) has no "
			    "function %s (it has: %s)",
			    job->j_filename, s->s_loc.line, s->s_loc.col, op, s->s_arg,
			    d->name != NULL ? d->name : "?", lib->l_sha, s->s_arg,
			    d->nudfs > 0 ? have : "none");
			return RL_ERR_INVAL;
		}
		if (!fits(s->s_kind, u->kind)) {
			snprintf(errbuf, errlen,
			    "%s:%d:%d: %s: {udf: %s} is a %s function; %s needs a %s function",
			    job->j_filename, s->s_loc.line, s->s_loc.col, op, s->s_arg,
			    kind_name(u->kind), op, wanted(s->s_kind));
			return RL_ERR_INVAL;
		}
		s->s_udf = u;
		s->s_udf_data = lib->l_udata;
	}
	return RL_OK;
}

rl_err
rl_udf_bind(const rl_udf_lib *lib, rl_job *job, char *errbuf, size_t errlen)
{
	return bind_steps(lib, job, job->j_steps, job->j_nsteps, errbuf, errlen);
}

rl_err
rl_udf_check(
    const rl_job *job, const void *data, size_t len, const char *sha, char *errbuf, size_t errlen)
{
	if (!rl_job_uses_udfs(job))
		return RL_OK;
	rl_udf_lib *lib = NULL;
	rl_job     *copy = NULL;
	rl_err      rv;
	if (data != NULL && (rv = rl_udf_lib_load(data, len, sha, &lib, errbuf, errlen)) != RL_OK)
		return rv;
	if ((rv = rl_job_parse(
	         job->j_text, job->j_text_len, job->j_filename, &copy, errbuf, errlen))
	    == RL_OK)
		rv = rl_udf_bind(lib, copy, errbuf, errlen);
	rl_job_destroy(copy);
	rl_udf_lib_destroy(lib);
	return rv;
}

rl_err
rl_udf_artifact_for(const rl_job *job, const char *path, void **ret_data, size_t *ret_len,
    char sha[RL_SHA256_HEX_LEN], char *errbuf, size_t errlen)
{
	void  *data = NULL;
	size_t len = 0;
	rl_err rv;
	sha[0] = '\0';
	if (path != NULL
	    && (rv = rl_udf_lib_read(path, &data, &len, sha, errbuf, errlen)) != RL_OK) {
		char why[1024];
		snprintf(why, sizeof(why), "%s", errbuf);
		snprintf(errbuf, errlen, "--artifact %s", why);
		return rv;
	}
	if ((rv = rl_udf_check(job, data, len, sha, errbuf, errlen)) != RL_OK) {
		rl_free(data);
		return rv;
	}
	*ret_data = data;
	*ret_len = len;
	return RL_OK;
}
