// SPDX-License-Identifier: Apache-2.0
// The checkpoint store: atomic, CRC32C-checked BatchRecord files, one per batch and phase.
#include "driver/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/connector.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/kafka.h"
#include "common/time.h"

#define MAGIC "RILLCKP1"
#define MAGIC_LEN 8
#define HEADER_LEN RL_CHECKPOINT_HEADER_LEN
#define FORMAT_VERSION 2
// A sparse record (base_batch_ms set) is format 3, so that a rill that
// cannot complete one refuses it rather than take its missing splits for
// splits it never read.
#define FORMAT_VERSION_SPARSE 3
// Format 1 held Kafka ranges (topic, partition); format 2 holds generic
// splits. Format 1 records are read as format 2 (upgrade_v1).
#define FORMAT_VERSION_KAFKA_RANGES 1
#define PATH_LEN 4096
// The longest name in batches/: "." + 20 digits + ".prepared.tmp".
#define NAME_MAX_LEN 34

// A driver uses one rl_checkpoint from one thread, so nothing here locks;
// two stores on the same directory at once are not supported.
// A done record this store wrote or found valid, with what stat said of its
// file then: pruning reads a record again only if its file changed since.
typedef struct known_done {
	int64_t         k_time;
	int64_t         k_base; // the record's base_batch_ms (0: whole)
	dev_t           k_dev;
	ino_t           k_ino;
	off_t           k_size;
	struct timespec k_mtime;
} known_done;

struct rl_checkpoint {
	char                 *c_dir;
	char                 *c_batches;
	int                   c_keep;
	rl_checkpoint_warn_fn c_warn;
	void                 *c_warn_arg;
	known_done           *c_known; // about c_keep entries: the kept batches
	size_t                c_nknown, c_known_cap;
};

// Phases in the order a reader prefers them: the most advanced first.
static const Rill__BatchRecord__Phase read_order[] = {
	RILL__BATCH_RECORD__PHASE__DONE,
	RILL__BATCH_RECORD__PHASE__PREPARED,
	RILL__BATCH_RECORD__PHASE__PLANNED,
};

// One batch as the directory listing shows it: bit p of b_phases is set when
// "<T>.<phase p>" exists, of b_tmp when ".<T>.<phase p>.tmp" does.
typedef struct {
	int64_t  b_time;
	unsigned b_phases;
	unsigned b_tmp;
} batch_files;

static void warn(const rl_checkpoint *ckp, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
warn(const rl_checkpoint *ckp, const char *path, const char *fmt, ...)
{
	if (ckp->c_warn == NULL)
		return;
	char    why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ckp->c_warn(ckp->c_warn_arg, path, why);
}

static const char *
phase_name(Rill__BatchRecord__Phase phase)
{
	switch (phase) {
	case RILL__BATCH_RECORD__PHASE__PLANNED:
		return "planned";
	case RILL__BATCH_RECORD__PHASE__PREPARED:
		return "prepared";
	case RILL__BATCH_RECORD__PHASE__DONE:
		return "done";
	default:
		return NULL;
	}
}

const char *
rl_checkpoint_phase_name(Rill__BatchRecord__Phase phase)
{
	return phase_name(phase);
}

static bool
phase_valid(int phase)
{
	return phase >= RILL__BATCH_RECORD__PHASE__PLANNED
	    && phase <= RILL__BATCH_RECORD__PHASE__DONE;
}

static void
record_path(const rl_checkpoint *ckp, int64_t t, Rill__BatchRecord__Phase phase, bool tmp,
    char *buf, size_t len)
{
	// rl_checkpoint_open made sure every name fits.
	if (tmp)
		snprintf(buf, len, "%s/.%" PRId64 ".%s.tmp", ckp->c_batches, t, phase_name(phase));
	else
		snprintf(buf, len, "%s/%" PRId64 ".%s", ckp->c_batches, t, phase_name(phase));
}

// parse_name accepts exactly the names rl_checkpoint_write makes:
// "<T>.<phase>" and ".<T>.<phase>.tmp", T in canonical decimal.
static bool
parse_name(const char *name, int64_t *ret_time, Rill__BatchRecord__Phase *ret_phase, bool *ret_tmp)
{
	bool tmp = name[0] == '.';
	if (tmp)
		name++;
	if (name[0] < '0' || name[0] > '9' || (name[0] == '0' && name[1] != '.'))
		return false;
	errno = 0;
	char     *end;
	long long t = strtoll(name, &end, 10);
	if (errno != 0 || *end != '.')
		return false;
	const char *phase_str = end + 1;
	size_t      phase_len = strlen(phase_str);
	if (tmp) {
		if (phase_len < 4 || strcmp(phase_str + phase_len - 4, ".tmp") != 0)
			return false;
		phase_len -= 4;
	}
	for (size_t i = 0; i < sizeof(read_order) / sizeof(read_order[0]); i++) {
		const char *want = phase_name(read_order[i]);
		if (strlen(want) == phase_len && strncmp(phase_str, want, phase_len) == 0) {
			*ret_time = t;
			*ret_phase = read_order[i];
			*ret_tmp = tmp;
			return true;
		}
	}
	return false;
}

bool
rl_checkpoint_parse_name(const char *name, int64_t *ret_time, Rill__BatchRecord__Phase *ret_phase)
{
	int64_t                  t;
	Rill__BatchRecord__Phase phase;
	bool                     tmp;
	if (!parse_name(name, &t, &phase, &tmp) || tmp)
		return false;
	*ret_time = t;
	*ret_phase = phase;
	return true;
}

static int
cmp_batch_desc(const void *a, const void *b)
{
	int64_t ta = ((const batch_files *)a)->b_time, tb = ((const batch_files *)b)->b_time;
	return ta < tb ? 1 : ta > tb ? -1 : 0;
}

// list_batches reads batches/ into one entry per batch time, newest first.
// A missing batches/ is an empty list.
static rl_err
list_batches(
    const rl_checkpoint *ckp, batch_files **ret, size_t *ret_n, char *errbuf, size_t errlen)
{
	DIR *d = opendir(ckp->c_batches);
	if (d == NULL) {
		if (errno == ENOENT) {
			*ret = NULL;
			*ret_n = 0;
			return RL_OK;
		}
		rl_errbuf_printf(errbuf, errlen, "%s: %s", ckp->c_batches, strerror(errno));
		return RL_ERR_IO;
	}
	batch_files *v = NULL;
	size_t       n = 0, cap = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (de == NULL) {
			if (errno != 0) {
				rl_errbuf_printf(
				    errbuf, errlen, "%s: %s", ckp->c_batches, strerror(errno));
				goto err_list;
			}
			break;
		}
		int64_t                  t;
		Rill__BatchRecord__Phase phase;
		bool                     tmp;
		if (!parse_name(de->d_name, &t, &phase, &tmp))
			continue;
		if (n == cap) {
			cap = rl_growth(cap, n + 1, 16);
			v = rl_realloc(v, cap * sizeof(*v));
		}
		v[n++] = (batch_files) {
			.b_time = t,
			.b_phases = tmp ? 0 : 1u << phase,
			.b_tmp = tmp ? 1u << phase : 0,
		};
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_batch_desc);
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && v[out - 1].b_time == v[i].b_time) {
			v[out - 1].b_phases |= v[i].b_phases;
			v[out - 1].b_tmp |= v[i].b_tmp;
		} else {
			v[out++] = v[i];
		}
	}
	*ret = v;
	*ret_n = out;
	return RL_OK;

err_list:
	closedir(d);
	rl_free(v);
	return RL_ERR_IO;
}

static bool
read_full(int fd, unsigned char *buf, size_t len, size_t *ret_got)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*ret_got = got;
	return true;
}

// upgrade_v1 reads a format 1 record as format 2: each Kafka range becomes a
// split of the kafka connector (format 1 knew no other source). The new
// fields are allocated as protobuf-c's unpacker does, so the record is still
// freed with rill__batch_record__free_unpacked.
static void
upgrade_v1(Rill__BatchRecord *rec)
{
	rec->splits = rl_calloc(rec->n_ranges + 1, sizeof(void *));
	for (size_t i = 0; i < rec->n_ranges; i++) {
		const Rill__CheckpointRange *cr = rec->ranges[i];
		Rill__SplitRange            *sr = rl_malloc(sizeof(*sr));
		char                         id[RL_SPLIT_ID_MAX];
		rill__split_range__init(sr);
		rl_kafka_split_id(cr->topic, cr->partition, id, sizeof(id));
		sr->kind = rl_strdup("kafka");
		sr->id = rl_strdup(id);
		sr->from = cr->from_offset;
		sr->until = cr->until_offset;
		rec->splits[rec->n_splits++] = sr;
	}
	rec->format_version = FORMAT_VERSION;
}

bool
rl_checkpoint_check_header(const unsigned char *bytes, size_t got, uint64_t total,
    const char *holder, uint32_t *ret_len, char *why, size_t whylen)
{
	if (got < HEADER_LEN) {
		rl_errbuf_printf(why, whylen, "torn: %zu of %d header bytes", got, HEADER_LEN);
		return false;
	}
	if (memcmp(bytes, MAGIC, MAGIC_LEN) != 0) {
		rl_errbuf_printf(why, whylen, "not a rill checkpoint record (bad magic)");
		return false;
	}
	uint32_t len = rl_be32_get(bytes + 8);
	uint64_t have = total > HEADER_LEN ? total - HEADER_LEN : 0;
	if (have != len) {
		rl_errbuf_printf(why, whylen, "%slength says %" PRIu32 " bytes, %s has %" PRIu64,
		    have < len ? "torn: " : "", len, holder, have);
		return false;
	}
	*ret_len = len;
	return true;
}

Rill__BatchRecord *
rl_checkpoint_decode(const unsigned char *bytes, size_t len, int64_t t,
    Rill__BatchRecord__Phase phase, const char *holder, char *why, size_t whylen)
{
	uint32_t payload_len;
	if (!rl_checkpoint_check_header(bytes, len, len, holder, &payload_len, why, whylen))
		return NULL;
	const unsigned char *payload = bytes + HEADER_LEN;
	uint32_t             stored_crc = rl_be32_get(bytes + 12);
	uint32_t             crc = rl_crc32c(payload, payload_len);
	if (crc != stored_crc) {
		rl_errbuf_printf(why, whylen,
		    "CRC32C mismatch (stored 0x%08" PRIx32 ", computed 0x%08" PRIx32 ")",
		    stored_crc, crc);
		return NULL;
	}
	Rill__BatchRecord *rec = rill__batch_record__unpack(NULL, payload_len, payload);
	if (rec == NULL) {
		rl_errbuf_printf(why, whylen, "record does not decode");
		return NULL;
	}
	if (rec->format_version == FORMAT_VERSION_KAFKA_RANGES)
		upgrade_v1(rec);
	else if (rec->format_version != FORMAT_VERSION
	    && rec->format_version != FORMAT_VERSION_SPARSE) {
		rl_errbuf_printf(
		    why, whylen, "unknown format version %" PRIu32, rec->format_version);
		goto err_record;
	}
	if ((int)rec->phase != (int)phase) {
		if (phase_valid(rec->phase))
			rl_errbuf_printf(why, whylen, "names phase %s but holds %s",
			    phase_name(phase), phase_name(rec->phase));
		else
			rl_errbuf_printf(why, whylen, "names phase %s but holds unknown phase %d",
			    phase_name(phase), (int)rec->phase);
		goto err_record;
	}
	if (rec->batch_time_ms != t) {
		rl_errbuf_printf(why, whylen, "names batch %" PRId64 " but holds %" PRId64, t,
		    rec->batch_time_ms);
		goto err_record;
	}
	return rec;

err_record:
	rill__batch_record__free_unpacked(rec, NULL);
	return NULL;
}

// load_record reads "<t>.<phase>". A valid record goes to *ret; a missing
// file gives *ret = NULL silently, an invalid one *ret = NULL and a warning.
// Only a file that exists but cannot be read is an error: a disk that fails
// must not quietly rewind the job.
static rl_err
load_record(const rl_checkpoint *ckp, int64_t t, Rill__BatchRecord__Phase phase,
    Rill__BatchRecord **ret, char *errbuf, size_t errlen)
{
	char path[PATH_LEN], why[256];
	record_path(ckp, t, phase, false, path, sizeof(path));
	Rill__BatchRecord *rec = NULL;
	unsigned char     *bytes = NULL;
	int                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			goto out;
		if (errno == ELOOP) {
			warn(ckp, path, "not a regular file (a symbolic link)");
			goto out;
		}
		rl_errbuf_printf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return RL_ERR_IO;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rl_errbuf_printf(errbuf, errlen, "%s: %s", path, strerror(errno));
		goto err_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		warn(ckp, path, "not a regular file");
		goto out_fd;
	}
	// The header first: a file whose length disagrees with it is not read
	// any further.
	unsigned char header[HEADER_LEN];
	size_t        got;
	uint32_t      len;
	if (!read_full(fd, header, sizeof(header), &got)) {
		rl_errbuf_printf(errbuf, errlen, "%s: %s", path, strerror(errno));
		goto err_fd;
	}
	if (!rl_checkpoint_check_header(
	        header, got, (uint64_t)st.st_size, "file", &len, why, sizeof(why))) {
		warn(ckp, path, "%s", why);
		goto out_fd;
	}
	bytes = rl_malloc(HEADER_LEN + (size_t)len);
	memcpy(bytes, header, HEADER_LEN);
	if (!read_full(fd, bytes + HEADER_LEN, len, &got)) {
		rl_errbuf_printf(errbuf, errlen, "%s: %s", path, strerror(errno));
		goto err_bytes;
	}
	if (got != len) {
		// The file shrank under us.
		warn(ckp, path, "torn: length says %" PRIu32 " bytes, read %zu", len, got);
		goto out_fd;
	}
	rec = rl_checkpoint_decode(
	    bytes, HEADER_LEN + (size_t)len, t, phase, "file", why, sizeof(why));
	if (rec == NULL)
		warn(ckp, path, "%s", why);
out_fd:
	rl_free(bytes);
	close(fd);
out:
	*ret = rec;
	return RL_OK;

err_bytes:
	rl_free(bytes);
err_fd:
	close(fd);
	return RL_ERR_IO;
}

// load_batch returns the most advanced valid record among the phases in mask.
static rl_err
load_batch(const rl_checkpoint *ckp, int64_t t, unsigned mask, Rill__BatchRecord **ret,
    char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < sizeof(read_order) / sizeof(read_order[0]); i++) {
		if ((mask & (1u << read_order[i])) == 0)
			continue;
		Rill__BatchRecord *rec;
		rl_err             rv = load_record(ckp, t, read_order[i], &rec, errbuf, errlen);
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

static rl_err
check_dir(const char *path, char *errbuf, size_t errlen)
{
	struct stat st;
	if (rl_mkdir_p(path) != 0 || stat(path, &st) != 0) {
		rl_errbuf_printf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return RL_ERR_IO;
	}
	if (!S_ISDIR(st.st_mode)) {
		rl_errbuf_printf(errbuf, errlen, "%s: %s", path, strerror(ENOTDIR));
		return RL_ERR_IO;
	}
	if (access(path, W_OK | X_OK) != 0) {
		rl_errbuf_printf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return RL_ERR_IO;
	}
	return RL_OK;
}

rl_err
rl_checkpoint_open(const char *dir, int keep, rl_checkpoint_warn_fn warn_fn, void *warn_arg,
    rl_checkpoint **ret, char *errbuf, size_t errlen)
{
	if (dir == NULL || dir[0] == '\0') {
		rl_errbuf_printf(errbuf, errlen, "checkpoint directory: empty path");
		return RL_ERR_INVAL;
	}
	if (keep < 1) {
		rl_errbuf_printf(errbuf, errlen, "%s: keep must be at least 1 (got %d)", dir, keep);
		return RL_ERR_INVAL;
	}
	char batches[PATH_LEN], probe[PATH_LEN + 32];
	int  n = snprintf(batches, sizeof(batches), "%s/batches", dir);
	if (n < 0 || (size_t)n + 1 + NAME_MAX_LEN >= sizeof(batches)) {
		rl_errbuf_printf(errbuf, errlen, "%s: %s", dir, strerror(ENAMETOOLONG));
		return RL_ERR_INVAL;
	}
	rl_err rv;
	if ((rv = check_dir(dir, errbuf, errlen)) != RL_OK)
		return rv;
	if ((rv = check_dir(batches, errbuf, errlen)) != RL_OK)
		return rv;
	// batches/ (and dir) may have just been made: their entries must be on
	// disk before a record in them can be called durable.
	snprintf(probe, sizeof(probe), "%s/..", dir);
	if (rl_fsync_dir(dir) != 0 || rl_fsync_dir(probe) != 0) {
		rl_errbuf_printf(errbuf, errlen, "%s: fsync: %s", dir, strerror(errno));
		return RL_ERR_IO;
	}
	// access() answers for the real uid and ignores read-only mounts'
	// subtleties; creating a file is the real test. The name never parses
	// as a record, so a leftover probe is harmless.
	snprintf(probe, sizeof(probe), "%s/.probe.%ld", batches, (long)getpid());
	int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rl_errbuf_printf(errbuf, errlen, "%s: %s", batches, strerror(errno));
		return RL_ERR_IO;
	}
	close(fd);
	if (unlink(probe) != 0) {
		rl_errbuf_printf(errbuf, errlen, "%s: %s", probe, strerror(errno));
		return RL_ERR_IO;
	}
	rl_checkpoint *ckp = RL_NEW(rl_checkpoint);
	ckp->c_dir = rl_strdup(dir);
	ckp->c_batches = rl_strdup(batches);
	ckp->c_keep = keep;
	ckp->c_warn = warn_fn;
	ckp->c_warn_arg = warn_arg;
	*ret = ckp;
	return RL_OK;
}

void
rl_checkpoint_close(rl_checkpoint *ckp)
{
	if (ckp == NULL)
		return;
	rl_free(ckp->c_dir);
	rl_free(ckp->c_batches);
	rl_free(ckp->c_known);
	rl_free(ckp);
}

int
rl_checkpoint_keep(const rl_checkpoint *ckp)
{
	return ckp->c_keep;
}

const char *
rl_checkpoint_dir(const rl_checkpoint *ckp)
{
	return ckp->c_dir;
}

static void
remove_file(const rl_checkpoint *ckp, const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		warn(ckp, path, "cannot remove: %s", strerror(errno));
}

static bool
stat_done(const rl_checkpoint *ckp, int64_t t, struct stat *st)
{
	char path[PATH_LEN];
	record_path(ckp, t, RILL__BATCH_RECORD__PHASE__DONE, false, path, sizeof(path));
	return lstat(path, st) == 0;
}

static bool
same_file(const known_done *k, const struct stat *st)
{
	return k->k_dev == st->st_dev && k->k_ino == st->st_ino && k->k_size == st->st_size
	    && k->k_mtime.tv_sec == st->st_mtim.tv_sec && k->k_mtime.tv_nsec == st->st_mtim.tv_nsec;
}

// known_valid: t's done record is one this store saw valid, unchanged since
// (and *ret_base is its base).
static bool
known_valid(const rl_checkpoint *ckp, int64_t t, int64_t *ret_base)
{
	struct stat st;
	for (size_t i = 0; i < ckp->c_nknown; i++) {
		if (ckp->c_known[i].k_time != t)
			continue;
		if (!stat_done(ckp, t, &st) || !same_file(&ckp->c_known[i], &st))
			return false;
		*ret_base = ckp->c_known[i].k_base;
		return true;
	}
	return false;
}

// remember_valid notes that t's done record, built on base (0: whole), is
// valid as its file is now.
static void
remember_valid(rl_checkpoint *ckp, int64_t t, int64_t base)
{
	struct stat st;
	if (!stat_done(ckp, t, &st))
		return;
	known_done k = { t, base, st.st_dev, st.st_ino, st.st_size, st.st_mtim };
	for (size_t i = 0; i < ckp->c_nknown; i++) {
		if (ckp->c_known[i].k_time == t) {
			ckp->c_known[i] = k;
			return;
		}
	}
	if (ckp->c_nknown == ckp->c_known_cap) {
		ckp->c_known_cap = rl_growth(ckp->c_known_cap, ckp->c_nknown + 1, 16);
		ckp->c_known = rl_realloc(ckp->c_known, ckp->c_known_cap * sizeof(known_done));
	}
	ckp->c_known[ckp->c_nknown++] = k;
}

// forget_before drops what is known of batches older than t (pruned).
static void
forget_before(rl_checkpoint *ckp, int64_t t)
{
	size_t out = 0;
	for (size_t i = 0; i < ckp->c_nknown; i++)
		if (ckp->c_known[i].k_time >= t)
			ckp->c_known[out++] = ckp->c_known[i];
	ckp->c_nknown = out;
}

// prune keeps the newest c_keep batches with a valid done record and every
// batch newer than the oldest of them, or than the oldest base a kept done
// record builds on (a sparse record stays whole); it removes everything
// older. The record just written counts, so the newest valid record always
// survives.
// Failing to remove a file is only a warning: the new record is durable.
// A done record is read and checked once; after that, while its file is
// unchanged, it is known valid (every batch would otherwise re-read c_keep
// records).
static rl_err
prune(rl_checkpoint *ckp, char *errbuf, size_t errlen)
{
	batch_files *v;
	size_t       n;
	rl_err       rv;
	if ((rv = list_batches(ckp, &v, &n, errbuf, errlen)) != RL_OK)
		return rv;
	size_t  found = 0, i = 0;
	int64_t oldest_base = INT64_MAX, base;
	for (; i < n && found < (size_t)ckp->c_keep; i++) {
		unsigned done = 1u << RILL__BATCH_RECORD__PHASE__DONE;
		if ((v[i].b_phases & done) == 0)
			continue;
		if (known_valid(ckp, v[i].b_time, &base)) {
			found++;
			if (base != 0 && base < oldest_base)
				oldest_base = base;
			continue;
		}
		Rill__BatchRecord *rec;
		if ((rv = load_batch(ckp, v[i].b_time, done, &rec, errbuf, errlen)) != RL_OK)
			goto out;
		if (rec != NULL) {
			found++;
			remember_valid(ckp, v[i].b_time, rec->base_batch_ms);
			if (rec->base_batch_ms != 0 && rec->base_batch_ms < oldest_base)
				oldest_base = rec->base_batch_ms;
			rill__batch_record__free_unpacked(rec, NULL);
		}
	}
	// The bases the kept records build on stay, and what is newer than them.
	while (found == (size_t)ckp->c_keep && i < n && v[i].b_time >= oldest_base)
		i++;
	if (found == (size_t)ckp->c_keep)
		forget_before(ckp, v[i - 1].b_time);
	// i is one past the oldest kept batch, if `keep` were found.
	for (; found == (size_t)ckp->c_keep && i < n; i++) {
		for (size_t k = 0; k < sizeof(read_order) / sizeof(read_order[0]); k++) {
			Rill__BatchRecord__Phase phase = read_order[k];
			char                     path[PATH_LEN];
			if (v[i].b_phases & (1u << phase)) {
				record_path(ckp, v[i].b_time, phase, false, path, sizeof(path));
				remove_file(ckp, path);
			}
			if (v[i].b_tmp & (1u << phase)) {
				record_path(ckp, v[i].b_time, phase, true, path, sizeof(path));
				remove_file(ckp, path);
			}
		}
	}
out:
	rl_free(v);
	return rv;
}

rl_err
rl_checkpoint_encode(Rill__BatchRecord *rec, const char *where, unsigned char **ret,
    size_t *ret_len, char *errbuf, size_t errlen)
{
	if (!phase_valid(rec->phase)) {
		rl_errbuf_printf(
		    errbuf, errlen, "%s: record has unknown phase %d", where, (int)rec->phase);
		return RL_ERR_INVAL;
	}
	if (rec->batch_time_ms < 0) {
		rl_errbuf_printf(errbuf, errlen, "%s: record has negative batch time %" PRId64,
		    where, rec->batch_time_ms);
		return RL_ERR_INVAL;
	}
	rec->format_version = rec->base_batch_ms != 0 ? FORMAT_VERSION_SPARSE : FORMAT_VERSION;
	rec->written_ms = rl_now_ms();
	size_t len = rill__batch_record__get_packed_size(rec);
	if (len > UINT32_MAX) {
		rl_errbuf_printf(errbuf, errlen,
		    "%s: record of batch %" PRId64 " is too large (%zu bytes)", where,
		    rec->batch_time_ms, len);
		return RL_ERR_INVAL;
	}
	unsigned char *buf = rl_malloc(HEADER_LEN + len);
	rill__batch_record__pack(rec, buf + HEADER_LEN);
	memcpy(buf, MAGIC, MAGIC_LEN);
	rl_be32_put(buf + 8, (uint32_t)len);
	rl_be32_put(buf + 12, rl_crc32c(buf + HEADER_LEN, len));
	*ret = buf;
	*ret_len = HEADER_LEN + len;
	return RL_OK;
}

rl_err
rl_checkpoint_write(rl_checkpoint *ckp, Rill__BatchRecord *rec, char *errbuf, size_t errlen)
{
	unsigned char *buf;
	size_t         len;
	rl_err         rv = rl_checkpoint_encode(rec, ckp->c_batches, &buf, &len, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	char tmp[PATH_LEN], final[PATH_LEN];
	record_path(ckp, rec->batch_time_ms, rec->phase, true, tmp, sizeof(tmp));
	record_path(ckp, rec->batch_time_ms, rec->phase, false, final, sizeof(final));
	rl_write_step step = rl_write_durable(tmp, final, buf, len);
	rl_free(buf);
	switch (step) {
	case RL_WRITE_DONE:
		break;
	case RL_WRITE_CREATE:
		rl_errbuf_printf(errbuf, errlen, "%s: %s", tmp, strerror(errno));
		return RL_ERR_IO;
	case RL_WRITE_RENAME:
		rl_errbuf_printf(
		    errbuf, errlen, "%s: rename to %s: %s", tmp, final, strerror(errno));
		return RL_ERR_IO;
	case RL_WRITE_FSYNC_DIR:
		rl_errbuf_printf(errbuf, errlen, "%s: fsync: %s", ckp->c_batches, strerror(errno));
		return RL_ERR_IO;
	default:
		rl_errbuf_printf(
		    errbuf, errlen, "%s: %s: %s", tmp, rl_write_step_name(step), strerror(errno));
		return RL_ERR_IO;
	}
	if (rec->phase != RILL__BATCH_RECORD__PHASE__DONE)
		return RL_OK;
	remember_valid(ckp, rec->batch_time_ms, rec->base_batch_ms);
	return prune(ckp, errbuf, errlen);
}

// split_key hashes a split's input, kind and id.
static size_t
split_key(const Rill__SplitRange *sr)
{
	const char *kind = sr->kind != NULL ? sr->kind : "", *id = sr->id != NULL ? sr->id : "";
	return (size_t)(rl_hash64(kind, strlen(kind)) ^ rl_hash64(id, strlen(id))) + sr->input;
}

static bool
same_split(const Rill__SplitRange *a, const Rill__SplitRange *b)
{
	return a->input == b->input
	    && strcmp(a->kind != NULL ? a->kind : "", b->kind != NULL ? b->kind : "") == 0
	    && strcmp(a->id != NULL ? a->id : "", b->id != NULL ? b->id : "") == 0;
}

// unchanged is base split sr as a record built on base lists it when it had
// nothing new, allocated as protobuf-c's unpacker would.
static Rill__SplitRange *
unchanged(const Rill__SplitRange *sr)
{
	Rill__SplitRange *u = rl_malloc(sizeof(*u));
	rill__split_range__init(u);
	u->kind = rl_strdup(sr->kind != NULL ? sr->kind : "");
	u->id = rl_strdup(sr->id != NULL ? sr->id : "");
	u->input = sr->input;
	u->from = u->until = sr->until;
	u->end_seen = sr->end_seen;
	if (sr->opaque.len > 0) {
		u->opaque.data = rl_malloc(sr->opaque.len);
		memcpy(u->opaque.data, sr->opaque.data, sr->opaque.len);
		u->opaque.len = sr->opaque.len;
	}
	return u;
}

rl_err
rl_checkpoint_complete(
    Rill__BatchRecord *rec, const Rill__BatchRecord *base, char *why, size_t whylen)
{
	if (base == NULL) {
		rl_errbuf_printf(why, whylen,
		    "builds on batch %" PRId64 ", whose done record is gone or not valid",
		    rec->base_batch_ms);
		return RL_ERR_INVAL;
	}
	if (base->batch_time_ms != rec->base_batch_ms || base->base_batch_ms != 0
	    || base->phase != RILL__BATCH_RECORD__PHASE__DONE) {
		rl_errbuf_printf(why, whylen,
		    "batch %" PRId64 "'s record builds on the done record of batch %" PRId64
		    ", not on %s%s record of batch %" PRId64,
		    rec->batch_time_ms, rec->base_batch_ms,
		    base->base_batch_ms != 0 ? "a sparse " : "",
		    phase_valid(base->phase) ? phase_name(base->phase) : "an unknown",
		    base->batch_time_ms);
		return RL_ERR_INVAL;
	}
	// rec's splits by kind and id (open addressing; taken[] marks those used).
	size_t cap = 16;
	while (cap < 2 * rec->n_splits + 2)
		cap *= 2;
	size_t *slot = rl_malloc(cap * sizeof(size_t));
	bool   *taken = rl_calloc(rec->n_splits + 1, sizeof(bool));
	for (size_t k = 0; k < cap; k++)
		slot[k] = SIZE_MAX;
	for (size_t i = 0; i < rec->n_splits; i++) {
		size_t h = split_key(rec->splits[i]) & (cap - 1);
		while (slot[h] != SIZE_MAX)
			h = (h + 1) & (cap - 1);
		slot[h] = i;
	}
	Rill__SplitRange **splits
	    = rl_calloc(base->n_splits + rec->n_splits + 1, sizeof(Rill__SplitRange *));
	size_t n = 0;
	for (size_t b = 0; b < base->n_splits; b++) {
		const Rill__SplitRange *sr = base->splits[b];
		size_t                  h = split_key(sr) & (cap - 1), at = SIZE_MAX;
		for (; slot[h] != SIZE_MAX; h = (h + 1) & (cap - 1)) {
			if (!taken[slot[h]] && same_split(rec->splits[slot[h]], sr)) {
				at = slot[h];
				break;
			}
		}
		if (at != SIZE_MAX) {
			taken[at] = true;
			splits[n++] = rec->splits[at];
		} else {
			splits[n++] = unchanged(sr);
		}
	}
	for (size_t i = 0; i < rec->n_splits; i++)
		if (!taken[i])
			splits[n++] = rec->splits[i];
	rl_free(rec->splits);
	rec->splits = splits;
	rec->n_splits = n;
	rec->base_batch_ms = 0;
	rl_free(taken);
	rl_free(slot);
	return RL_OK;
}

// complete makes a sparse record read from the directory whole from its
// base's done record. When that cannot be had, *rec is freed and NULL, with
// a warning naming its file: it is not a valid record.
static rl_err
complete(const rl_checkpoint *ckp, Rill__BatchRecord **rec, char *errbuf, size_t errlen)
{
	if (*rec == NULL || (*rec)->base_batch_ms == 0)
		return RL_OK;
	Rill__BatchRecord *base;
	char               why[256], path[PATH_LEN];
	unsigned           done = 1u << RILL__BATCH_RECORD__PHASE__DONE;
	rl_err             rv = load_batch(ckp, (*rec)->base_batch_ms, done, &base, errbuf, errlen);
	if (rv != RL_OK)
		return rv;
	if (rl_checkpoint_complete(*rec, base, why, sizeof(why)) != RL_OK) {
		record_path(ckp, (*rec)->batch_time_ms, (*rec)->phase, false, path, sizeof(path));
		warn(ckp, path, "%s", why);
		rill__batch_record__free_unpacked(*rec, NULL);
		*rec = NULL;
	}
	if (base != NULL)
		rill__batch_record__free_unpacked(base, NULL);
	return RL_OK;
}

rl_err
rl_checkpoint_latest(rl_checkpoint *ckp, Rill__BatchRecord **ret, char *errbuf, size_t errlen)
{
	batch_files *v;
	size_t       n;
	rl_err       rv;
	if ((rv = list_batches(ckp, &v, &n, errbuf, errlen)) != RL_OK)
		return rv;
	Rill__BatchRecord *rec = NULL;
	for (size_t i = 0; i < n && rec == NULL; i++) {
		if ((rv = load_batch(ckp, v[i].b_time, v[i].b_phases, &rec, errbuf, errlen))
		        != RL_OK
		    || (rv = complete(ckp, &rec, errbuf, errlen)) != RL_OK)
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
rl_checkpoint_read(
    rl_checkpoint *ckp, int64_t batch_ms, Rill__BatchRecord **ret, char *errbuf, size_t errlen)
{
	if (batch_ms < 0) {
		*ret = NULL;
		return RL_OK;
	}
	unsigned all = 0;
	for (size_t i = 0; i < sizeof(read_order) / sizeof(read_order[0]); i++)
		all |= 1u << read_order[i];
	Rill__BatchRecord *rec;
	rl_err             rv = load_batch(ckp, batch_ms, all, &rec, errbuf, errlen);
	if (rv == RL_OK && (rv = complete(ckp, &rec, errbuf, errlen)) == RL_OK)
		*ret = rec;
	return rv;
}

bool
rl_checkpoint_split_lag(const Rill__BatchRecord *rec, const Rill__SplitRange *sr, int64_t *ret)
{
	if (!rec->ends_seen)
		return false;
	*ret = sr->end_seen > sr->until ? sr->end_seen - sr->until : 0;
	return true;
}

bool
rl_checkpoint_lag(const Rill__BatchRecord *rec, int64_t *ret)
{
	if (!rec->ends_seen)
		return false;
	int64_t total = 0, lag;
	for (size_t i = 0; i < rec->n_splits; i++)
		if (rl_checkpoint_split_lag(rec, rec->splits[i], &lag))
			total += lag;
	*ret = total;
	return true;
}
