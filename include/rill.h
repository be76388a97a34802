// SPDX-License-Identifier: Apache-2.0
// rill.h: the C ABI between rill and a job's user functions (UDFs), shipped as
// a shared library (the job's artifact). Stable and versioned: a library
// built against ABI version N runs on every rill that knows version N.
//
// A library exports one symbol, rill_udf_library (RILL_LIBRARY_SYMBOL),
// returning a descriptor: the ABI version it was built for and a table of
// named functions, each of one kind. A job names a function as `{udf: NAME}`
// in place of a built-in one (docs/udf.md):
//
//   static int tokens(void *udata, rill_slice value, rill_out *out) { ... }
//   static const rill_udf udfs[] = {
//       { .name = "tokens", .kind = RILL_FLAT_MAP, .fn = tokens },
//   };
//   RILL_EXPORT const rill_library *rill_udf_library(void) {
//       static const rill_library lib = {
//           .abi_version = RILL_ABI_VERSION, .name = "mylib",
//           .udfs = udfs, .nudfs = sizeof(udfs) / sizeof(udfs[0]) };
//       return &lib;
//   }
//
// Threads: rill calls a function from several task threads at once; udata
// (made once by init) is shared by every call and must be read-only or
// thread-safe. Memory: nothing passed to a function outlives the call, and
// nothing is allocated per call by rill; bytes a function emits need only
// stay valid until the emit call returns (a stack buffer will do), or come
// from rill_scratch (released after the input record is done).
#ifndef RILL_H
#define RILL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The ABI this header describes. rill refuses a library whose descriptor
// says another version than one it knows (today: 1 only).
#define RILL_ABI_VERSION 1

// The symbol rill looks up with dlsym after checking the library's sha256.
#define RILL_LIBRARY_SYMBOL "rill_udf_library"

#if defined(__GNUC__)
#define RILL_EXPORT __attribute__((visibility("default")))
#else
#define RILL_EXPORT
#endif

// Return codes of functions and of the emit calls.
#define RILL_OK 0
#define RILL_ERROR (-1) // the task fails; with rill_fail, the message says why
// An update function's verdict on a key's state.
#define RILL_KEEP 1
#define RILL_REMOVE 0

// A view of bytes owned by someone else. ptr may be NULL when len is 0.
typedef struct rill_slice {
	const uint8_t *ptr;
	size_t         len;
} rill_slice;

// What a function is for; a job may use it only where its kind fits
// (docs/udf.md has the table). Values are part of the ABI.
typedef enum rill_kind {
	RILL_MAP = 1, // map: the value -> a new value (emit 0 or 1), the key kept
	RILL_FLAT_MAP = 2, // flat_map: the value -> 0..n keyless values
	RILL_FILTER = 3, // filter: the value -> keep (1) or drop (0)
	RILL_KEY_BY = 4, // key_by: the value -> its key (emit 0 or 1), the value kept
	RILL_MAP_VALUES = 5, // map_values: the value -> a new value (emit 0 or 1, bytes or int)
	RILL_REDUCE = 6, // reduce_by_key, update_state_by_key: (int64, int64) -> int64
	RILL_UPDATE = 7, // update_state_by_key: (state?, batch value?) -> new state or remove
} rill_kind;

typedef struct rill_out rill_out;

// The host's side of a call, reached through rill_out's api (no symbol of
// rill's is needed at link time). Each returns RILL_OK or RILL_ERROR.
typedef struct rill_out_api {
	// emit passes one value on. It runs the rest of the pipeline before it
	// returns, so bytes need only be valid during the call.
	int (*emit)(rill_out *out, const void *bytes, size_t len);
	// emit_int passes an integer value on (map_values; elsewhere it is
	// formatted as decimal text).
	int (*emit_int)(rill_out *out, int64_t value);
	// scratch returns size bytes (8-aligned) that stay valid until the input
	// record is done, or NULL for a size over 64 MiB.
	void *(*scratch)(rill_out *out, size_t size);
	// fail records why the function fails (copied) and returns RILL_ERROR.
	int (*fail)(rill_out *out, const char *message);
} rill_out_api;

// One call's output handle, on rill's stack.
struct rill_out {
	const rill_out_api *api;
	rill_slice          key; // the record's key; ptr NULL: it has none
	int64_t             batch_ms; // the batch's time, ms since the epoch
};

static inline int
rill_emit(rill_out *out, const void *bytes, size_t len)
{
	return out->api->emit(out, bytes, len);
}

static inline int
rill_emit_int(rill_out *out, int64_t value)
{
	return out->api->emit_int(out, value);
}

static inline void *
rill_scratch(rill_out *out, size_t size)
{
	return out->api->scratch(out, size);
}

static inline int
rill_fail(rill_out *out, const char *message)
{
	return out->api->fail(out, message);
}

// map, flat_map, filter, key_by, map_values. value is the record's value
// (an integer value is given as decimal text). map, key_by and map_values
// emit at most once (none drops the record); flat_map any number of times.
// filter emits nothing and returns 1 (keep) or 0 (drop). Any: a negative
// return fails the task.
typedef int (*rill_value_fn)(void *udata, rill_slice value, rill_out *out);

// reduce: folds two values of a key. It must be associative and
// commutative: rill combines map-side before the shuffle, in any order.
typedef int64_t (*rill_reduce_fn)(void *udata, int64_t a, int64_t b);

// What an update function sees for one key, once per batch for every key
// that has state or values (or both) in the batch.
typedef struct rill_update_in {
	rill_slice key;
	int        has_state; // state holds the key's state after the last batch
	int64_t    state;
	int        has_value; // value holds the batch's values of the key, combined
	int64_t    value;
	int64_t    batch_ms; // the batch's time, ms since the epoch
} rill_update_in;

// update: returns RILL_KEEP with *ret_state set (the key's new state,
// emitted downstream), RILL_REMOVE to forget the key (nothing emitted), or
// a negative code to fail the task.
typedef int (*rill_update_fn)(void *udata, const rill_update_in *in, int64_t *ret_state);

// One named function. Set the field of its kind:
//   fn      RILL_MAP, RILL_FLAT_MAP, RILL_FILTER, RILL_KEY_BY, RILL_MAP_VALUES
//   reduce  RILL_REDUCE; with RILL_UPDATE, optionally, how a batch's values of
//           a key are combined before update sees them (NULL: summed)
//   update  RILL_UPDATE
typedef struct rill_udf {
	const char    *name; // a C identifier, unique in the library
	rill_kind      kind;
	rill_value_fn  fn;
	rill_reduce_fn reduce;
	rill_update_fn update;
} rill_udf;

// The library's descriptor; it and everything it points to must stay valid
// while the library is loaded (static storage).
typedef struct rill_library {
	uint32_t        abi_version; // RILL_ABI_VERSION
	const char     *name; // for messages
	const rill_udf *udfs;
	size_t          nudfs;
	// init, optional, runs once after loading: *ret_udata is passed to every
	// function. A non-zero return refuses the library (with errbuf's reason).
	int (*init)(void **ret_udata, char *errbuf, size_t errlen);
	// fini, optional, runs before the library is unloaded.
	void (*fini)(void *udata);
} rill_library;

// The entry point every artifact exports.
RILL_EXPORT const rill_library *rill_udf_library(void);

#ifdef __cplusplus
}
#endif

#endif
