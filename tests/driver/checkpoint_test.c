// SPDX-License-Identifier: Apache-2.0
// The checkpoint store: round trips, phase and batch choice, every kind of corrupt file, pruning.
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/fsutil.h"
#include "common/time.h"
#include "driver/checkpoint.h"
#include "tests/fixtures/records.h"

// Each test works in its own directory under /tmp.
typedef struct {
	char           dir[64];
	char           batches[128];
	rt_warnings    warn;
	rl_checkpoint *ckp;
} env;

static void
env_open(env *e, int keep)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/rill-ckp-test-XXXXXX");
	cr_assert_not_null(mkdtemp(e->dir), "mkdtemp: %s", strerror(errno));
	snprintf(e->batches, sizeof(e->batches), "%s/batches", e->dir);
	char   err[512] = "";
	rl_err rv
	    = rl_checkpoint_open(e->dir, keep, rt_collect, &e->warn, &e->ckp, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "open %s: %s", e->dir, err);
}

static void
env_close(env *e)
{
	rl_checkpoint_close(e->ckp);
	rl_remove_tree(e->dir);
}

static void
put(env *e, int64_t t, Rill__BatchRecord__Phase phase)
{
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.batch_time_ms = t;
	rec.phase = phase;
	rec.job = "wordcount";
	char   err[512] = "";
	rl_err rv = rl_checkpoint_write(e->ckp, &rec, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "write %lld: %s", (long long)t, err);
}

static Rill__BatchRecord *
latest(env *e)
{
	Rill__BatchRecord *rec = (Rill__BatchRecord *)1;
	char               err[512] = "";
	rl_err             rv = rl_checkpoint_latest(e->ckp, &rec, err, sizeof(err));
	cr_assert_eq(rv, RL_OK, "latest: %s", err);
	cr_assert_neq(rec, (Rill__BatchRecord *)1, "latest left *ret unset");
	return rec;
}

static void
expect_latest(env *e, int64_t t, Rill__BatchRecord__Phase phase)
{
	Rill__BatchRecord *rec = latest(e);
	cr_assert_not_null(rec, "no latest record, expected %lld", (long long)t);
	cr_expect_eq(rec->batch_time_ms, t);
	cr_expect_eq(rec->phase, phase);
	rill__batch_record__free_unpacked(rec, NULL);
}

static void
path_of(env *e, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", e->batches, name);
}

static bool
exists(env *e, const char *name)
{
	char path[256];
	path_of(e, name, path, sizeof(path));
	return access(path, F_OK) == 0;
}

static void
write_raw(env *e, const char *name, const void *bytes, size_t len)
{
	char path[256];
	path_of(e, name, path, sizeof(path));
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(bytes, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

// read_raw returns the bytes of batches/name; the caller frees them.
static unsigned char *
read_raw(env *e, const char *name, size_t *ret_len)
{
	char path[256];
	path_of(e, name, path, sizeof(path));
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	unsigned char *buf = malloc(1 << 16);
	size_t         n = fread(buf, 1, 1 << 16, f);
	fclose(f);
	*ret_len = n;
	return buf;
}

static void
expect_one_warning(env *e, const char *name, const char *reason)
{
	char path[256];
	path_of(e, name, path, sizeof(path));
	cr_assert_eq(e->warn.n, 1, "expected one warning about %s, got %zu (first: %s)", name,
	    e->warn.n, e->warn.n > 0 ? e->warn.why[0] : "-");
	cr_expect_str_eq(e->warn.path[0], path);
	cr_expect_not_null(
	    strstr(e->warn.why[0], reason), "warning \"%s\" lacks \"%s\"", e->warn.why[0], reason);
}

// The usual scene for corruption tests: batch 1000 is done; batch 2000 has
// valid planned and prepared records, and a broken done record is planted.
// Reads must skip it with one warning and fall back to 2000's prepared
// record; rl_checkpoint_read of 2000 must do the same.
static void
expect_skipped(const void *bytes, size_t len, const char *reason)
{
	env e;
	env_open(&e, 10);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	put(&e, 2000, RILL__BATCH_RECORD__PHASE__PLANNED);
	put(&e, 2000, RILL__BATCH_RECORD__PHASE__PREPARED);
	write_raw(&e, "2000.done", bytes, len);

	expect_latest(&e, 2000, RILL__BATCH_RECORD__PHASE__PREPARED);
	expect_one_warning(&e, "2000.done", reason);

	e.warn.n = 0;
	Rill__BatchRecord *rec = NULL;
	char               err[512] = "";
	cr_assert_eq(rl_checkpoint_read(e.ckp, 2000, &rec, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_not_null(rec);
	cr_expect_eq(rec->phase, RILL__BATCH_RECORD__PHASE__PREPARED);
	rill__batch_record__free_unpacked(rec, NULL);
	expect_one_warning(&e, "2000.done", reason);
	env_close(&e);
}

// valid_done returns the bytes of a valid done record for batch 2000.
static unsigned char *
valid_done(size_t *ret_len)
{
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.format_version = 1;
	rec.phase = RILL__BATCH_RECORD__PHASE__DONE;
	rec.batch_time_ms = 2000;
	rec.job = "wordcount";
	rec.records = 12345;
	return rt_frame_record(&rec, ret_len);
}

// Reference CRC32C, one bit at a time (reflected polynomial 0x82F63B78).
static uint32_t
crc32c_bitwise(uint32_t crc, const unsigned char *p, size_t len)
{
	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	}
	return ~crc;
}

Test(checkpoint, crc32c_gives_the_castagnoli_check_value)
{
	cr_assert_eq(rl_crc32c("123456789", 9), 0xE3069283u);
	cr_assert_eq(rl_crc32c("", 0), 0u);
	cr_assert_eq(rl_crc32c(NULL, 0), 0u);
	// RFC 3720 B.4: 32 bytes of zeros, and of 0xFF.
	unsigned char buf[32];
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(rl_crc32c(buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xFF, sizeof(buf));
	cr_assert_eq(rl_crc32c(buf, sizeof(buf)), 0x62A8AB43u);
}

Test(checkpoint, crc32c_matches_a_bitwise_reference_at_every_length_and_alignment)
{
	unsigned char buf[300];
	uint32_t      x = 12345;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (unsigned char)(x >> 16);
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; off + len <= sizeof(buf); len++)
			cr_assert_eq(rl_crc32c(buf + off, len), crc32c_bitwise(0, buf + off, len),
			    "offset %zu length %zu", off, len);
}

Test(checkpoint, crc32c_handles_buffers_longer_than_int_max)
{
	// ISA-L takes an int length; rl_crc32c must chunk. Untouched anonymous
	// pages read as zeros without using memory.
	size_t         len = (size_t)INT_MAX + 77;
	unsigned char *zeros
	    = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(zeros, MAP_FAILED, "mmap %zu bytes: %s", len, strerror(errno));
	uint32_t got = rl_crc32c(zeros, len);
	munmap(zeros, len);
	// The reference over zeros needs no buffer: a byte-wise table loop.
	uint32_t table[256];
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
		table[i] = c;
	}
	uint32_t crc = 0xFFFFFFFFu;
	for (size_t i = 0; i < len; i++)
		crc = table[crc & 0xFF] ^ (crc >> 8);
	cr_assert_eq(got, ~crc, "got 0x%08x, want 0x%08x", got, ~crc);
}

Test(checkpoint, round_trip_keeps_every_field)
{
	env e;
	env_open(&e, 3);
	rt_full_record f;
	rt_full_record_init(&f);

	int64_t before = rl_now_ms();
	char    err[512] = "";
	cr_assert_eq(rl_checkpoint_write(e.ckp, &f.rec, err, sizeof(err)), RL_OK, "%s", err);
	int64_t after = rl_now_ms();
	cr_expect_eq(f.rec.format_version, 2);
	cr_expect(f.rec.written_ms >= before && f.rec.written_ms <= after);

	Rill__BatchRecord *got = NULL;
	cr_assert_eq(rl_checkpoint_read(e.ckp, 1700000002000, &got, err, sizeof(err)), RL_OK);
	cr_assert_not_null(got);
	rt_full_record_expect(got, &f.rec);
	rill__batch_record__free_unpacked(got, NULL);
	cr_expect_eq(e.warn.n, 0);
	env_close(&e);
}

Test(checkpoint, written_file_has_the_documented_bytes_and_no_temp_file_remains)
{
	env e;
	env_open(&e, 3);
	put(&e, 5000, RILL__BATCH_RECORD__PHASE__PREPARED);
	cr_assert(exists(&e, "5000.prepared"));
	cr_expect_not(exists(&e, ".5000.prepared.tmp"));
	size_t         len;
	unsigned char *b = read_raw(&e, "5000.prepared", &len);
	cr_assert_geq(len, 16);
	cr_expect_eq(memcmp(b, "RILLCKP1", 8), 0);
	uint32_t plen = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 | (uint32_t)b[10] << 8 | b[11];
	uint32_t crc = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
	cr_expect_eq(plen, len - 16);
	cr_expect_eq(crc, crc32c_bitwise(0, b + 16, len - 16));
	Rill__BatchRecord *rec = rill__batch_record__unpack(NULL, len - 16, b + 16);
	cr_assert_not_null(rec);
	cr_expect_eq(rec->batch_time_ms, 5000);
	cr_expect_eq(rec->phase, RILL__BATCH_RECORD__PHASE__PREPARED);
	rill__batch_record__free_unpacked(rec, NULL);
	free(b);
	env_close(&e);
}

Test(checkpoint, latest_prefers_done_over_prepared_over_planned)
{
	env e;
	env_open(&e, 3);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__PLANNED);
	expect_latest(&e, 1000, RILL__BATCH_RECORD__PHASE__PLANNED);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__PREPARED);
	expect_latest(&e, 1000, RILL__BATCH_RECORD__PHASE__PREPARED);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	expect_latest(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	cr_expect_eq(e.warn.n, 0);
	env_close(&e);
}

Test(checkpoint, latest_returns_the_newest_batch_by_number_not_by_name)
{
	env e;
	env_open(&e, 10);
	// "999" sorts after "1000" as a string.
	put(&e, 999, RILL__BATCH_RECORD__PHASE__DONE);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__PLANNED);
	put(&e, 20, RILL__BATCH_RECORD__PHASE__DONE);
	expect_latest(&e, 1000, RILL__BATCH_RECORD__PHASE__PLANNED);
	cr_expect_eq(e.warn.n, 0);
	env_close(&e);
}

Test(checkpoint, empty_or_missing_batches_directory_has_no_latest)
{
	env e;
	env_open(&e, 3);
	cr_expect_null(latest(&e));
	rl_remove_tree(e.batches);
	cr_expect_null(latest(&e));
	Rill__BatchRecord *rec = (Rill__BatchRecord *)1;
	char               err[512] = "";
	cr_assert_eq(rl_checkpoint_read(e.ckp, 1000, &rec, err, sizeof(err)), RL_OK, "%s", err);
	cr_expect_null(rec);
	cr_expect_eq(e.warn.n, 0);
	env_close(&e);
}

Test(checkpoint, read_of_an_unknown_batch_gives_null)
{
	env e;
	env_open(&e, 3);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	Rill__BatchRecord *rec = (Rill__BatchRecord *)1;
	char               err[512] = "";
	cr_assert_eq(rl_checkpoint_read(e.ckp, 2000, &rec, err, sizeof(err)), RL_OK, "%s", err);
	cr_expect_null(rec);
	env_close(&e);
}

Test(checkpoint, header_torn_at_every_length_is_skipped)
{
	size_t         len;
	unsigned char *good = valid_done(&len);
	for (size_t cut = 0; cut < 16; cut++) {
		char reason[64];
		snprintf(reason, sizeof(reason), "torn: %zu of 16 header bytes", cut);
		expect_skipped(good, cut, reason);
	}
	free(good);
}

Test(checkpoint, zero_length_file_is_skipped)
{
	expect_skipped("", 0, "torn: 0 of 16 header bytes");
}

Test(checkpoint, truncated_payload_is_skipped)
{
	size_t         len;
	unsigned char *good = valid_done(&len);
	char           reason[128];
	snprintf(reason, sizeof(reason), "torn: length says %zu bytes, file has %zu", len - 16,
	    len - 16 - 5);
	expect_skipped(good, len - 5, reason);
	expect_skipped(good, 16, "torn: length says");
	free(good);
}

Test(checkpoint, trailing_bytes_after_the_payload_are_skipped)
{
	size_t         len;
	unsigned char *good = valid_done(&len);
	unsigned char *longer = malloc(len + 3);
	memcpy(longer, good, len);
	memset(longer + len, 0, 3);
	char reason[128];
	snprintf(reason, sizeof(reason), "length says %zu bytes, file has %zu", len - 16, len - 13);
	expect_skipped(longer, len + 3, reason);
	free(longer);
	free(good);
}

Test(checkpoint, flipped_payload_byte_fails_the_crc)
{
	size_t         len;
	unsigned char *bad = valid_done(&len);
	for (size_t i = 16; i < len; i++) {
		bad[i] ^= 0x01;
		expect_skipped(bad, len, "CRC32C mismatch (stored 0x");
		bad[i] ^= 0x01;
	}
	free(bad);
}

Test(checkpoint, flipped_crc_byte_fails_the_crc)
{
	size_t         len;
	unsigned char *bad = valid_done(&len);
	bad[15] ^= 0x80;
	expect_skipped(bad, len, "CRC32C mismatch");
	free(bad);
}

Test(checkpoint, flipped_length_byte_is_skipped)
{
	size_t         len;
	unsigned char *bad = valid_done(&len);
	for (size_t i = 8; i < 12; i++) {
		bad[i] ^= 0x10;
		expect_skipped(bad, len, "length says");
		bad[i] ^= 0x10;
	}
	free(bad);
}

Test(checkpoint, bad_magic_is_skipped)
{
	size_t         len;
	unsigned char *bad = valid_done(&len);
	memcpy(bad, "RILLCKP2", 8);
	expect_skipped(bad, len, "not a rill checkpoint record (bad magic)");
	free(bad);
	const char text[] = "this is a text file, not a checkpoint\n";
	expect_skipped(text, sizeof(text) - 1, "bad magic");
}

Test(checkpoint, payload_with_valid_crc_that_is_no_batch_record_is_skipped)
{
	// 't' (0x74) opens field 14 with wire type 4, which protobuf rejects.
	const char     junk[] = "this is not a protobuf message";
	size_t         len;
	unsigned char *bad = rt_frame(junk, sizeof(junk) - 1, &len);
	expect_skipped(bad, len, "record does not decode");
	free(bad);
	// A never-ending varint.
	unsigned char ff[16];
	memset(ff, 0xFF, sizeof(ff));
	bad = rt_frame(ff, sizeof(ff), &len);
	expect_skipped(bad, len, "record does not decode");
	free(bad);
}

Test(checkpoint, unknown_format_version_is_skipped)
{
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.format_version = 9;
	rec.phase = RILL__BATCH_RECORD__PHASE__DONE;
	rec.batch_time_ms = 2000;
	size_t         len;
	unsigned char *bad = rt_frame_record(&rec, &len);
	expect_skipped(bad, len, "unknown format version 9");
	free(bad);
	// An empty payload decodes, as format version 0.
	bad = rt_frame("", 0, &len);
	expect_skipped(bad, len, "unknown format version 0");
	free(bad);
}

Test(checkpoint, record_naming_another_phase_is_skipped)
{
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.format_version = 1;
	rec.phase = RILL__BATCH_RECORD__PHASE__PREPARED;
	rec.batch_time_ms = 2000;
	size_t         len;
	unsigned char *bad = rt_frame_record(&rec, &len);
	expect_skipped(bad, len, "names phase done but holds prepared");
	free(bad);
	rec.phase = (Rill__BatchRecord__Phase)7;
	bad = rt_frame_record(&rec, &len);
	expect_skipped(bad, len, "names phase done but holds unknown phase 7");
	free(bad);
}

Test(checkpoint, record_naming_another_batch_is_skipped)
{
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.format_version = 1;
	rec.phase = RILL__BATCH_RECORD__PHASE__DONE;
	rec.batch_time_ms = 1000;
	size_t         len;
	unsigned char *bad = rt_frame_record(&rec, &len);
	expect_skipped(bad, len, "names batch 2000 but holds 1000");
	free(bad);
}

Test(checkpoint, batch_whose_only_record_is_corrupt_falls_back_to_the_previous_batch)
{
	env e;
	env_open(&e, 10);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	put(&e, 2000, RILL__BATCH_RECORD__PHASE__PLANNED);
	size_t         len;
	unsigned char *b = read_raw(&e, "2000.planned", &len);
	write_raw(&e, "2000.planned", b, len - 1);
	free(b);
	expect_latest(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	expect_one_warning(&e, "2000.planned", "torn: length says");
	env_close(&e);
}

Test(checkpoint, every_corrupt_phase_of_a_batch_is_reported_before_falling_back)
{
	env e;
	env_open(&e, 10);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	write_raw(&e, "2000.done", "RILLCKP1", 8);
	write_raw(&e, "2000.prepared", "", 0);
	write_raw(&e, "2000.planned", "XXXXXXXXXXXXXXXXXXXXXXXX", 24);
	expect_latest(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	cr_assert_eq(e.warn.n, 3);
	char path[256];
	path_of(&e, "2000.done", path, sizeof(path));
	cr_expect_str_eq(e.warn.path[0], path);
	cr_expect_str_eq(e.warn.why[0], "torn: 8 of 16 header bytes");
	path_of(&e, "2000.prepared", path, sizeof(path));
	cr_expect_str_eq(e.warn.path[1], path);
	path_of(&e, "2000.planned", path, sizeof(path));
	cr_expect_str_eq(e.warn.path[2], path);
	cr_expect_str_eq(e.warn.why[2], "not a rill checkpoint record (bad magic)");
	env_close(&e);
}

Test(checkpoint, directory_with_only_corrupt_files_has_no_latest_and_warns_for_each)
{
	env e;
	env_open(&e, 3);
	write_raw(&e, "1000.done", "", 0);
	write_raw(&e, "2000.planned", "RILLCKP1\0\0\0\0\0\0\0\0", 16);
	size_t         len;
	unsigned char *bad = valid_done(&len); // batch 2000, named 3000
	write_raw(&e, "3000.done", bad, len);
	free(bad);
	cr_expect_null(latest(&e));
	cr_assert_eq(e.warn.n, 3);
	cr_expect_not_null(strstr(e.warn.path[0], "/batches/3000.done"));
	cr_expect_str_eq(e.warn.why[0], "names batch 3000 but holds 2000");
	cr_expect_not_null(strstr(e.warn.path[1], "/batches/2000.planned"));
	cr_expect_str_eq(e.warn.why[1], "unknown format version 0");
	cr_expect_not_null(strstr(e.warn.path[2], "/batches/1000.done"));
	env_close(&e);
}

Test(checkpoint, leftover_temp_files_and_foreign_names_are_ignored_silently)
{
	env e;
	env_open(&e, 3);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	size_t         len;
	unsigned char *good = valid_done(&len);
	// A complete temp file of a newer batch that never got renamed: not trusted.
	write_raw(&e, ".2000.done.tmp", good, len);
	write_raw(&e, ".3000.planned.tmp", "RILL", 4);
	free(good);
	write_raw(&e, "README", "hello", 5);
	write_raw(&e, "4000.finished", "x", 1);
	write_raw(&e, "04000.done", "x", 1);
	write_raw(&e, "-4000.done", "x", 1);
	write_raw(&e, "4000.done.bak", "x", 1);
	write_raw(&e, "99999999999999999999999.done", "x", 1);
	expect_latest(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	cr_expect_eq(e.warn.n, 0, "first warning: %s", e.warn.n > 0 ? e.warn.why[0] : "-");
	env_close(&e);
}

Test(checkpoint, write_replaces_a_leftover_temp_file)
{
	env e;
	env_open(&e, 3);
	write_raw(&e, ".1000.done.tmp", "garbage from a crash", 20);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	cr_expect_not(exists(&e, ".1000.done.tmp"));
	expect_latest(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	env_close(&e);
}

Test(checkpoint, pruning_keeps_exactly_keep_done_batches_and_everything_newer)
{
	env e;
	env_open(&e, 2);
	for (int64_t t = 1000; t <= 5000; t += 1000) {
		put(&e, t, RILL__BATCH_RECORD__PHASE__PLANNED);
		put(&e, t, RILL__BATCH_RECORD__PHASE__PREPARED);
		put(&e, t, RILL__BATCH_RECORD__PHASE__DONE);
	}
	// 6000 and 7000 are in flight; 6000 has no done record.
	put(&e, 6000, RILL__BATCH_RECORD__PHASE__PLANNED);
	put(&e, 7000, RILL__BATCH_RECORD__PHASE__PLANNED);
	cr_expect(exists(&e, "4000.planned"));
	cr_expect(exists(&e, "4000.prepared"));
	cr_expect(exists(&e, "4000.done"));
	cr_expect(exists(&e, "5000.done"));
	for (int t = 1000; t <= 3000; t += 1000) {
		char        name[64];
		const char *phases[] = { "planned", "prepared", "done" };
		for (int p = 0; p < 3; p++) {
			snprintf(name, sizeof(name), "%d.%s", t, phases[p]);
			cr_expect_not(exists(&e, name), "%s survived pruning", name);
		}
	}
	// Done for 7000 while 6000 is still open: 5000 and 7000 are the two
	// kept, 6000 lies between them and stays, 4000 goes.
	put(&e, 7000, RILL__BATCH_RECORD__PHASE__DONE);
	cr_expect_not(exists(&e, "4000.done"));
	cr_expect_not(exists(&e, "4000.planned"));
	cr_expect(exists(&e, "5000.done"));
	cr_expect(exists(&e, "6000.planned"));
	cr_expect(exists(&e, "7000.done"));
	expect_latest(&e, 7000, RILL__BATCH_RECORD__PHASE__DONE);
	cr_expect_eq(e.warn.n, 0);
	env_close(&e);
}

Test(checkpoint, pruning_with_keep_one_keeps_only_the_newest_done_batch)
{
	env e;
	env_open(&e, 1);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	put(&e, 2000, RILL__BATCH_RECORD__PHASE__DONE);
	cr_expect_not(exists(&e, "1000.done"));
	cr_expect(exists(&e, "2000.done"));
	env_close(&e);
}

Test(checkpoint, pruning_removes_stray_temp_and_corrupt_files_of_old_batches_only)
{
	env e;
	env_open(&e, 1);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	write_raw(&e, ".1000.prepared.tmp", "x", 1);
	write_raw(&e, "1000.planned", "", 0);
	write_raw(&e, ".3000.planned.tmp", "x", 1);
	write_raw(&e, "README", "keep me", 7);
	put(&e, 2000, RILL__BATCH_RECORD__PHASE__DONE);
	cr_expect_not(exists(&e, ".1000.prepared.tmp"));
	cr_expect_not(exists(&e, "1000.planned"));
	cr_expect_not(exists(&e, "1000.done"));
	cr_expect(exists(&e, ".3000.planned.tmp"));
	cr_expect(exists(&e, "README"));
	cr_expect(exists(&e, "2000.done"));
	env_close(&e);
}

Test(checkpoint, pruning_never_counts_a_corrupt_done_record)
{
	// A corrupt done record of a newer batch must not push out the record
	// just written: it would leave no valid record at all.
	env e;
	env_open(&e, 1);
	write_raw(&e, "9000.done", "RILLCKP1", 8);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	cr_expect(exists(&e, "1000.done"));
	cr_expect(exists(&e, "9000.done"));
	expect_latest(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	env_close(&e);
}

Test(checkpoint, open_creates_missing_parent_directories)
{
	char base[64];
	snprintf(base, sizeof(base), "/tmp/rill-ckp-test-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/a/b/ckp", base);
	rl_checkpoint *ckp = NULL;
	char           err[512] = "";
	cr_assert_eq(
	    rl_checkpoint_open(dir, 3, NULL, NULL, &ckp, err, sizeof(err)), RL_OK, "%s", err);
	cr_expect_str_eq(rl_checkpoint_dir(ckp), dir);
	struct stat st;
	char        batches[160];
	snprintf(batches, sizeof(batches), "%s/batches", dir);
	cr_assert_eq(stat(batches, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	// No probe file is left behind, and a NULL warn callback is fine.
	Rill__BatchRecord *rec = (Rill__BatchRecord *)1;
	cr_assert_eq(rl_checkpoint_latest(ckp, &rec, err, sizeof(err)), RL_OK);
	cr_expect_null(rec);
	rl_checkpoint_close(ckp);
	rmdir(batches);
	cr_expect_eq(rmdir(dir), 0, "checkpoint dir not empty: %s", strerror(errno));
	rl_remove_tree(base);
}

Test(checkpoint, open_rejects_a_regular_file_and_names_it)
{
	char base[64];
	snprintf(base, sizeof(base), "/tmp/rill-ckp-test-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	char file[128];
	snprintf(file, sizeof(file), "%s/plain", base);
	FILE *f = fopen(file, "w");
	cr_assert_not_null(f);
	fclose(f);
	rl_checkpoint *ckp = (rl_checkpoint *)1;
	char           err[512] = "";
	cr_assert_eq(rl_checkpoint_open(file, 3, NULL, NULL, &ckp, err, sizeof(err)), RL_ERR_IO);
	cr_expect_eq(ckp, (rl_checkpoint *)1, "*ret written on failure");
	char want[256];
	snprintf(want, sizeof(want), "%s: Not a directory", file);
	cr_expect_str_eq(err, want);
	rl_remove_tree(base);
}

Test(checkpoint, open_rejects_a_directory_it_cannot_write)
{
	char base[64];
	snprintf(base, sizeof(base), "/tmp/rill-ckp-test-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	char           dir[160], want[256];
	rl_checkpoint *ckp = (rl_checkpoint *)1;
	char           err[512] = "";
	if (geteuid() == 0) {
		// Root ignores permission bits; a path under a regular file fails
		// for everyone.
		char file[128];
		snprintf(file, sizeof(file), "%s/plain", base);
		FILE *f = fopen(file, "w");
		cr_assert_not_null(f);
		fclose(f);
		snprintf(dir, sizeof(dir), "%s/ckp", file);
		snprintf(want, sizeof(want), "%s: Not a directory", dir);
	} else {
		snprintf(dir, sizeof(dir), "%s/ro", base);
		cr_assert_eq(mkdir(dir, 0555), 0);
		snprintf(want, sizeof(want), "%s: Permission denied", dir);
	}
	cr_assert_eq(rl_checkpoint_open(dir, 3, NULL, NULL, &ckp, err, sizeof(err)), RL_ERR_IO);
	cr_expect_eq(ckp, (rl_checkpoint *)1, "*ret written on failure");
	cr_expect_str_eq(err, want);
	rl_remove_tree(base);
}

Test(checkpoint, open_rejects_keep_below_one)
{
	rl_checkpoint *ckp = (rl_checkpoint *)1;
	char           err[512] = "";
	cr_assert_eq(
	    rl_checkpoint_open("/tmp/never-created", 0, NULL, NULL, &ckp, err, sizeof(err)),
	    RL_ERR_INVAL);
	cr_expect_eq(ckp, (rl_checkpoint *)1);
	cr_expect_not_null(strstr(err, "keep"), "%s", err);
	cr_expect_neq(access("/tmp/never-created", F_OK), 0);
}

Test(checkpoint, write_failure_names_the_path_and_reason)
{
	env e;
	env_open(&e, 3);
	// The batches directory vanished and a file took its place.
	rl_remove_tree(e.batches);
	FILE *f = fopen(e.batches, "w");
	cr_assert_not_null(f);
	fclose(f);
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.batch_time_ms = 1000;
	rec.phase = RILL__BATCH_RECORD__PHASE__DONE;
	char   err[512] = "";
	rl_err rv = rl_checkpoint_write(e.ckp, &rec, err, sizeof(err));
	cr_assert_eq(rv, RL_ERR_IO);
	char want[256];
	snprintf(want, sizeof(want), "%s/.1000.done.tmp: Not a directory", e.batches);
	cr_expect_str_eq(err, want);
	env_close(&e);
}

Test(checkpoint, write_rejects_an_unknown_phase)
{
	env e;
	env_open(&e, 3);
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.batch_time_ms = 1000;
	rec.phase = (Rill__BatchRecord__Phase)5;
	char err[512] = "";
	cr_assert_eq(rl_checkpoint_write(e.ckp, &rec, err, sizeof(err)), RL_ERR_INVAL);
	cr_expect_not_null(strstr(err, "phase 5"), "%s", err);
	env_close(&e);
}

Test(checkpoint, pruning_notices_a_kept_record_that_went_bad)
{
	// Pruning remembers which records it found valid; one that changed on
	// disk since must be checked again, not counted from memory.
	env e;
	env_open(&e, 2);
	put(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	put(&e, 2000, RILL__BATCH_RECORD__PHASE__DONE);
	write_raw(&e, "2000.done", "RILLCKP1", 8);
	put(&e, 3000, RILL__BATCH_RECORD__PHASE__DONE);
	cr_expect(exists(&e, "1000.done"), "the second valid record was pruned");
	cr_expect(exists(&e, "3000.done"));
	env_close(&e);
}

// ---- format 1 (Kafka ranges), still read ----

static void
expect_split(const Rill__SplitRange *sr, const char *id, int64_t from, int64_t until)
{
	cr_expect_str_eq(sr->kind, "kafka");
	cr_expect_str_eq(sr->id, id);
	cr_expect_eq(sr->from, from, "%s: from %lld", id, (long long)sr->from);
	cr_expect_eq(sr->until, until, "%s: until %lld", id, (long long)sr->until);
}

Test(checkpoint, format_1_record_reads_as_kafka_splits)
{
	env e;
	env_open(&e, 10);
	Rill__CheckpointRange r0 = RILL__CHECKPOINT_RANGE__INIT, r1 = RILL__CHECKPOINT_RANGE__INIT;
	r0.topic = "clicks.v2";
	r0.partition = 11;
	r0.from_offset = 5;
	r0.until_offset = 9;
	r1.topic = "words";
	r1.partition = 0;
	r1.from_offset = 7;
	r1.until_offset = 7;
	Rill__CheckpointRange *ranges[] = { &r0, &r1 };
	Rill__BatchRecord      rec = RILL__BATCH_RECORD__INIT;
	rec.format_version = 1;
	rec.phase = RILL__BATCH_RECORD__PHASE__DONE;
	rec.batch_time_ms = 3000;
	rec.job = "wordcount";
	rec.ranges = ranges;
	rec.n_ranges = 2;
	size_t         len;
	unsigned char *bytes = rt_frame_record(&rec, &len);
	write_raw(&e, "3000.done", bytes, len);
	free(bytes);
	Rill__BatchRecord *got = latest(&e);
	cr_assert_not_null(got);
	cr_expect_eq(got->format_version, 2);
	cr_assert_eq(got->n_splits, 2);
	expect_split(got->splits[0], "clicks.v2/11", 5, 9);
	expect_split(got->splits[1], "words/0", 7, 7);
	rill__batch_record__free_unpacked(got, NULL);
	cr_expect_eq(e.warn.n, 0);
	env_close(&e);
}

// copy_format_1_fixture puts tests/fixtures/checkpoint-v1's batches into
// e's directory.
static void
copy_format_1_fixture(const env *e)
{
	const char *root = getenv("RILL_SOURCE_ROOT");
	cr_assert_not_null(root, "RILL_SOURCE_ROOT is not set");
	char cmd[4096];
	snprintf(
	    cmd, sizeof(cmd), "cp %s/tests/fixtures/checkpoint-v1/batches/* %s/", root, e->batches);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

// tests/fixtures/checkpoint-v1 was written by the format 1 writer itself.
Test(checkpoint, format_1_fixture_from_the_old_writer_is_read)
{
	env e;
	env_open(&e, 10);
	copy_format_1_fixture(&e);

	Rill__BatchRecord *got = latest(&e);
	cr_assert_not_null(got);
	cr_expect_eq(got->batch_time_ms, 1764633601000);
	cr_expect_eq(got->phase, RILL__BATCH_RECORD__PHASE__PLANNED);
	cr_expect_str_eq(got->job, "ckpv1");
	cr_assert_eq(got->n_splits, 2);
	expect_split(got->splits[0], "ckpv1-words/0", 3, 5);
	expect_split(got->splits[1], "ckpv1-words/1", 2, 6);
	rill__batch_record__free_unpacked(got, NULL);

	char err[512] = "";
	cr_assert_eq(rl_checkpoint_read(e.ckp, 1764633600000, &got, err, sizeof(err)), RL_OK);
	cr_assert_not_null(got);
	cr_expect_eq(got->phase, RILL__BATCH_RECORD__PHASE__DONE);
	cr_expect_eq(got->shuffle_partitions, 2);
	cr_assert_eq(got->n_splits, 2);
	expect_split(got->splits[0], "ckpv1-words/0", 0, 3);
	expect_split(got->splits[1], "ckpv1-words/1", 0, 2);
	cr_assert_not_null(got->rate);
	cr_expect_eq(got->rate->latest_rate, 250);
	rill__batch_record__free_unpacked(got, NULL);
	cr_expect_eq(e.warn.n, 0, "%s", e.warn.n > 0 ? e.warn.why[0] : "");
	env_close(&e);
}

// ---- lag ----

Test(checkpoint, lag_is_each_splits_end_seen_less_its_until_and_survives_the_file)
{
	env e;
	env_open(&e, 10);
	Rill__SplitRange s0 = RILL__SPLIT_RANGE__INIT, s1 = RILL__SPLIT_RANGE__INIT,
	                 s2 = RILL__SPLIT_RANGE__INIT;
	s0.kind = s1.kind = s2.kind = "kafka";
	s0.id = "t/0";
	s0.from = 100;
	s0.until = 250;
	s0.end_seen = 400; // 150 behind
	s1.id = "t/1";
	s1.until = 42;
	s1.end_seen = 42; // caught up
	s2.id = "t/2";
	s2.from = 0;
	s2.until = 0;
	s2.end_seen = 0; // empty: known to be 0 behind, not unknown
	Rill__SplitRange *splits[] = { &s0, &s1, &s2 };
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	rec.phase = RILL__BATCH_RECORD__PHASE__DONE;
	rec.job = "wordcount";
	rec.batch_time_ms = 5000;
	rec.splits = splits;
	rec.n_splits = 3;
	rec.ends_seen = true;
	char err[512] = "";
	cr_assert_eq(rl_checkpoint_write(e.ckp, &rec, err, sizeof(err)), RL_OK, "%s", err);
	Rill__BatchRecord *got = latest(&e);
	cr_assert_not_null(got);
	cr_assert_eq(got->n_splits, 3);
	int64_t want[] = { 150, 0, 0 }, lag = -1;
	for (size_t i = 0; i < 3; i++) {
		cr_expect(rl_checkpoint_split_lag(got, got->splits[i], &lag), "split %zu", i);
		cr_expect_eq(lag, want[i], "split %zu: lag %lld", i, (long long)lag);
	}
	cr_expect(rl_checkpoint_lag(got, &lag));
	cr_expect_eq(lag, 150);
	rill__batch_record__free_unpacked(got, NULL);
	env_close(&e);
}

Test(checkpoint, lag_is_never_negative_when_the_end_fell_behind_the_range)
{
	// A topic deleted and made again: the end seen can be below the range.
	Rill__SplitRange  s0 = RILL__SPLIT_RANGE__INIT;
	Rill__SplitRange *splits[] = { &s0 };
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	s0.until = 90;
	s0.end_seen = 10;
	rec.splits = splits;
	rec.n_splits = 1;
	rec.ends_seen = true;
	int64_t lag = -1;
	cr_expect(rl_checkpoint_split_lag(&rec, &s0, &lag));
	cr_expect_eq(lag, 0);
	cr_expect(rl_checkpoint_lag(&rec, &lag));
	cr_expect_eq(lag, 0);
}

Test(checkpoint, records_of_older_rill_have_no_lag)
{
	env e;
	env_open(&e, 10);
	copy_format_1_fixture(&e);
	Rill__BatchRecord *got = latest(&e);
	cr_assert_not_null(got);
	int64_t lag = -1;
	cr_expect_not(rl_checkpoint_lag(got, &lag));
	cr_assert_gt(got->n_splits, 0);
	cr_expect_not(rl_checkpoint_split_lag(got, got->splits[0], &lag));
	cr_expect_eq(lag, -1, "untouched");
	rill__batch_record__free_unpacked(got, NULL);
	// Format 2 without the ends (rill before it recorded them) neither.
	Rill__SplitRange  s0 = RILL__SPLIT_RANGE__INIT;
	Rill__SplitRange *splits[] = { &s0 };
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	s0.kind = "kafka";
	s0.id = "t/0";
	s0.until = 7;
	rec.phase = RILL__BATCH_RECORD__PHASE__DONE;
	rec.job = "wordcount";
	rec.batch_time_ms = 1764633602000;
	rec.splits = splits;
	rec.n_splits = 1;
	char err[512] = "";
	cr_assert_eq(rl_checkpoint_write(e.ckp, &rec, err, sizeof(err)), RL_OK, "%s", err);
	got = latest(&e);
	cr_assert_not_null(got);
	cr_expect_eq(got->batch_time_ms, 1764633602000);
	cr_expect_not(rl_checkpoint_lag(got, &lag));
	rill__batch_record__free_unpacked(got, NULL);
	env_close(&e);
}

// ---- sparse records ----

// put_splits writes batch t's record of phase: splits "s/<i>" for each i in
// ids (n of them), each [from, until) = [i * 10 + 1, i * 10 + 2) with end
// i * 10 + 5 and opaque "o<i>"; built on base (0: whole).
static void
put_splits(
    env *e, int64_t t, Rill__BatchRecord__Phase phase, int64_t base, const int *ids, size_t n)
{
	Rill__SplitRange  ranges[16], *ptrs[16];
	char              names[16][16], opaque[16][8];
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT;
	cr_assert_leq(n, 16);
	for (size_t k = 0; k < n; k++) {
		rill__split_range__init(&ranges[k]);
		snprintf(names[k], sizeof(names[k]), "s/%d", ids[k]);
		snprintf(opaque[k], sizeof(opaque[k]), "o%d", ids[k]);
		ranges[k].kind = "kafka";
		ranges[k].id = names[k];
		ranges[k].from = ids[k] * 10 + 1;
		ranges[k].until = ids[k] * 10 + 2;
		ranges[k].end_seen = ids[k] * 10 + 5;
		ranges[k].task = (uint32_t)k + 1;
		ranges[k].opaque.data = (uint8_t *)opaque[k];
		ranges[k].opaque.len = strlen(opaque[k]);
		ptrs[k] = &ranges[k];
	}
	rec.batch_time_ms = t;
	rec.phase = phase;
	rec.job = "wordcount";
	rec.base_batch_ms = base;
	rec.ends_seen = true;
	rec.splits = ptrs;
	rec.n_splits = n;
	char err[512] = "";
	cr_assert_eq(rl_checkpoint_write(e->ckp, &rec, err, sizeof(err)), RL_OK, "%s", err);
}

// expect_split checks that sr is split "s/<id>" as put_splits wrote it
// (moved) or as a later record with nothing new there sees it.
static void
expect_sparse_split(const Rill__SplitRange *sr, int id, bool moved)
{
	char name[16], opaque[8];
	snprintf(name, sizeof(name), "s/%d", id);
	snprintf(opaque, sizeof(opaque), "o%d", id);
	cr_expect_str_eq(sr->kind, "kafka");
	cr_expect_str_eq(sr->id, name);
	cr_expect_eq(
	    sr->from, id * 10 + (moved ? 1 : 2), "%s: from %lld", name, (long long)sr->from);
	cr_expect_eq(sr->until, id * 10 + 2, "%s: until %lld", name, (long long)sr->until);
	cr_expect_eq(sr->end_seen, id * 10 + 5);
	cr_expect_eq(sr->task > 0, moved, "%s: task %u", name, sr->task);
	cr_assert_eq(sr->opaque.len, strlen(opaque));
	cr_expect_eq(memcmp(sr->opaque.data, opaque, sr->opaque.len), 0);
}

Test(checkpoint, a_sparse_record_reads_whole_in_its_base_s_order)
{
	env e;
	env_open(&e, 100);
	const int all[] = { 0, 1, 2, 3, 4 }, some[] = { 3, 1, 9 };
	put_splits(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE, 0, all, 5);
	put_splits(&e, 2000, RILL__BATCH_RECORD__PHASE__PLANNED, 1000, some, 3);
	// On disk: format 2 whole, format 3 sparse (which older rill refuses).
	const char *const names[] = { "1000.done", "2000.planned" };
	for (int k = 0; k < 2; k++) {
		size_t             len;
		unsigned char     *bytes = read_raw(&e, names[k], &len);
		char               why[256];
		Rill__BatchRecord *raw = rl_checkpoint_decode(bytes, len, (k + 1) * 1000,
		    k == 0 ? RILL__BATCH_RECORD__PHASE__DONE : RILL__BATCH_RECORD__PHASE__PLANNED,
		    "file", why, sizeof(why));
		cr_assert_not_null(raw, "%s: %s", names[k], why);
		cr_expect_eq(raw->format_version, k == 0 ? 2 : 3, "%s", names[k]);
		cr_expect_eq(raw->n_splits, k == 0 ? 5 : 3);
		rill__batch_record__free_unpacked(raw, NULL);
		free(bytes);
	}
	Rill__BatchRecord *rec = latest(&e);
	cr_assert_not_null(rec);
	cr_expect_eq(rec->batch_time_ms, 2000);
	cr_expect_eq(rec->base_batch_ms, 0, "read whole");
	cr_assert_eq(rec->n_splits, 6, "the base's 5, and one only the record has");
	const int  order[] = { 0, 1, 2, 3, 4, 9 };
	const bool moved[] = { false, true, false, true, false, true };
	for (size_t i = 0; i < 6; i++)
		expect_sparse_split(rec->splits[i], order[i], moved[i]);
	rill__batch_record__free_unpacked(rec, NULL);
	char err[512];
	cr_assert_eq(rl_checkpoint_read(e.ckp, 2000, &rec, err, sizeof(err)), RL_OK, "%s", err);
	cr_assert_not_null(rec);
	cr_expect_eq(rec->n_splits, 6);
	rill__batch_record__free_unpacked(rec, NULL);
	cr_expect_eq(e.warn.n, 0);
	env_close(&e);
}

Test(checkpoint, a_sparse_record_whose_base_is_gone_is_passed_over)
{
	env e;
	env_open(&e, 100);
	const int all[] = { 0, 1, 2 }, one[] = { 1 };
	put_splits(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE, 0, all, 3);
	put_splits(&e, 2000, RILL__BATCH_RECORD__PHASE__DONE, 0, all, 3);
	put_splits(&e, 3000, RILL__BATCH_RECORD__PHASE__DONE, 2000, one, 1);
	char path[256];
	path_of(&e, "2000.done", path, sizeof(path));
	cr_assert_eq(unlink(path), 0);
	expect_latest(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE);
	expect_one_warning(&e, "3000.done", "builds on batch 2000, whose done record is gone");
	env_close(&e);
}

Test(checkpoint, a_record_built_on_a_sparse_one_is_refused)
{
	env e;
	env_open(&e, 100);
	const int all[] = { 0, 1 }, one[] = { 1 };
	put_splits(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE, 0, all, 2);
	put_splits(&e, 2000, RILL__BATCH_RECORD__PHASE__DONE, 1000, one, 1);
	put_splits(&e, 3000, RILL__BATCH_RECORD__PHASE__DONE, 2000, one, 1);
	expect_latest(&e, 2000, RILL__BATCH_RECORD__PHASE__DONE);
	expect_one_warning(&e, "3000.done",
	    "batch 3000's record builds on the done record of batch 2000, not on a sparse done "
	    "record of batch 2000");
	env_close(&e);
}

Test(checkpoint, pruning_keeps_the_bases_of_the_kept_records)
{
	env e;
	env_open(&e, 2);
	const int all[] = { 0, 1, 2 }, one[] = { 1 };
	put_splits(&e, 1000, RILL__BATCH_RECORD__PHASE__DONE, 0, all, 3);
	put_splits(&e, 2000, RILL__BATCH_RECORD__PHASE__DONE, 0, all, 3);
	put_splits(&e, 3000, RILL__BATCH_RECORD__PHASE__DONE, 2000, one, 1);
	put_splits(&e, 4000, RILL__BATCH_RECORD__PHASE__DONE, 2000, one, 1);
	// 3000 and 4000 are the two kept; both build on 2000, which stays.
	cr_expect_not(exists(&e, "1000.done"));
	cr_expect(exists(&e, "2000.done"));
	cr_expect(exists(&e, "3000.done"));
	put_splits(&e, 5000, RILL__BATCH_RECORD__PHASE__DONE, 0, all, 3);
	// 4000 and 5000 kept; 4000's base 2000 too, and 3000 between them.
	cr_expect(exists(&e, "2000.done"));
	cr_expect(exists(&e, "3000.done"));
	put_splits(&e, 6000, RILL__BATCH_RECORD__PHASE__DONE, 5000, one, 1);
	// 5000 and 6000: everything older goes.
	cr_expect_not(exists(&e, "2000.done"));
	cr_expect_not(exists(&e, "3000.done"));
	cr_expect_not(exists(&e, "4000.done"));
	cr_expect(exists(&e, "5000.done"));
	Rill__BatchRecord *rec = latest(&e);
	cr_assert_not_null(rec);
	cr_expect_eq(rec->batch_time_ms, 6000);
	cr_expect_eq(rec->n_splits, 3);
	rill__batch_record__free_unpacked(rec, NULL);
	cr_expect_eq(e.warn.n, 0);
	env_close(&e);
}

Test(checkpoint, complete_refuses_a_base_of_another_batch_and_leaves_the_record)
{
	Rill__SplitRange  r = RILL__SPLIT_RANGE__INIT, *ptr = &r;
	Rill__BatchRecord rec = RILL__BATCH_RECORD__INIT, base = RILL__BATCH_RECORD__INIT;
	r.kind = "kafka";
	r.id = "s/1";
	rec.batch_time_ms = 3000;
	rec.base_batch_ms = 2000;
	rec.splits = &ptr;
	rec.n_splits = 1;
	base.batch_time_ms = 1000;
	base.phase = RILL__BATCH_RECORD__PHASE__DONE;
	char why[256];
	cr_expect_eq(rl_checkpoint_complete(&rec, &base, why, sizeof(why)), RL_ERR_INVAL);
	cr_expect_str_eq(why,
	    "batch 3000's record builds on the done record of batch 2000, not on done record of "
	    "batch 1000");
	base.batch_time_ms = 2000;
	base.phase = RILL__BATCH_RECORD__PHASE__PLANNED;
	cr_expect_eq(rl_checkpoint_complete(&rec, &base, why, sizeof(why)), RL_ERR_INVAL);
	cr_expect_eq(rec.n_splits, 1);
	cr_expect_eq(rec.splits, &ptr);
	cr_expect_eq(rec.base_batch_ms, 2000);
}
