// SPDX-License-Identifier: Apache-2.0
// Reading and writing state snapshot files.
#include "executor/state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/crc32c.h"
#include "common/fsutil.h"
#include "executor/shuffle.h"

#define MAGIC "RILLSTA1"
#define HEADER 16

rl_err
rl_state_load(const char *path, rl_combiner *c, char *errbuf, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(errbuf, errlen, "state snapshot %s: %s", path, strerror(errno));
		return errno == ENOENT ? RL_ERR_NOENT : RL_ERR_IO;
	}
	struct stat st;
	rl_err      rv = RL_OK;
	uint8_t    *data = NULL;
	if (fstat(fd, &st) != 0) {
		snprintf(errbuf, errlen, "state snapshot %s: %s", path, strerror(errno));
		rv = RL_ERR_IO;
		goto out;
	}
	size_t size = (size_t)st.st_size;
	data = rl_malloc(size + 1);
	for (size_t off = 0; off < size;) {
		ssize_t n = read(fd, data + off, size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(errbuf, errlen, "state snapshot %s: %s", path,
			    n < 0 ? strerror(errno) : "shorter than its size");
			rv = RL_ERR_IO;
			goto out;
		}
		off += (size_t)n;
	}
	if (size < HEADER || memcmp(data, MAGIC, 8) != 0
	    || rl_be32_get(data + 8) != size - HEADER) {
		snprintf(errbuf, errlen, "state snapshot %s: torn or not a snapshot (%zu bytes)",
		    path, size);
		rv = RL_ERR_PARSE;
		goto out;
	}
	if (rl_crc32c(data + HEADER, size - HEADER) != rl_be32_get(data + 12)) {
		snprintf(errbuf, errlen, "state snapshot %s: CRC32C mismatch", path);
		rv = RL_ERR_PARSE;
		goto out;
	}
	rl_reader r = rl_reader_make(data + HEADER, size - HEADER);
	rl_rec    rec;
	int       more;
	while ((more = rl_block_next(&r, &rec)) == 1) {
		if (rec.r_key == NULL || !rec.r_is_num) {
			more = -1;
			break;
		}
		rl_combiner_merge(c, rec.r_key, rec.r_key_len, rec.r_num);
	}
	if (more < 0) {
		snprintf(errbuf, errlen, "state snapshot %s: malformed records", path);
		rv = RL_ERR_PARSE;
	}
out:
	rl_free(data);
	close(fd);
	return rv;
}

rl_err
rl_state_save(const char *path, const rl_combiner *c, char *errbuf, size_t errlen)
{
	rl_buf b = RL_BUF_INIT;
	rl_buf_append(&b, MAGIC, 8);
	rl_buf_append(&b, "\0\0\0\0\0\0\0\0", 8); // length and CRC, below
	for (size_t i = 0; i < c->c_cap; i++) {
		const rl_combine_entry *e = &c->c_slots[i];
		if (e->e_key != NULL)
			rl_block_put_kv(&b, e->e_key, e->e_key_len, e->e_acc);
	}
	rl_be32_put(b.b_data + 8, (uint32_t)(b.b_len - HEADER));
	rl_be32_put(b.b_data + 12, rl_crc32c(b.b_data + HEADER, b.b_len - HEADER));

	char dir[4096], tmp[4200];
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	rl_err        rv = RL_OK;
	rl_write_step step = RL_WRITE_DONE;
	if (rl_mkdir_p(dirname(dir)) != 0
	    || (step = rl_write_durable(tmp, path, b.b_data, b.b_len)) != RL_WRITE_DONE) {
		snprintf(errbuf, errlen, "state snapshot %s: %s: %s", path,
		    step != RL_WRITE_DONE ? rl_write_step_name(step) : "create directory",
		    strerror(errno));
		rv = RL_ERR_IO;
	}
	rl_buf_fini(&b);
	return rv;
}
