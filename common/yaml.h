// SPDX-License-Identifier: Apache-2.0
// Reading a job file's YAML: the only user of libfyaml, with typed getters and FILE:LINE:COL.
#ifndef RL_YAML_H
#define RL_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

// Where something was written in the job file, for error messages.
typedef struct rl_loc {
	int line; // 1-based; 0 when unknown
	int col; // 1-based
} rl_loc;

// A loaded YAML document; it owns every node in it.
typedef struct rl_yaml_doc rl_yaml_doc;

// A node of a loaded document, valid while its document lives. Opaque: ask
// the functions below about it.
typedef struct rl_yaml_node rl_yaml_node;

// Where parse errors go: "FILE:LINE:COL: what is wrong" is written to buf
// (NULL or len 0: nothing is written, the error code still is returned).
typedef struct rl_yaml_errbuf {
	const char *filename; // as given by the user, for messages
	char       *buf;
	size_t      len;
} rl_yaml_errbuf;

// A value found under a key (or a list item), with what messages need to
// point at it.
typedef struct rl_yaml_field {
	char          path[160]; // "source.kafka.brokers"; "" for the whole file
	rl_yaml_node *node; // NULL when absent or written as an empty value / null
	bool          present; // the key was written (even with an empty value)
	rl_loc        loc; // the value's position, else its key's
	rl_loc        key_loc;
} rl_yaml_field;

// A key a mapping may hold; key lists end with { NULL, false }.
typedef struct rl_yaml_key {
	const char *name;
	bool        required;
} rl_yaml_key;

// A position in a list or mapping being walked; start from a zeroed one.
typedef struct rl_yaml_iter {
	void  *it;
	size_t index; // of the next item
} rl_yaml_iter;

// One key and its value in a mapping being walked.
typedef struct rl_yaml_entry {
	rl_yaml_node *key; // may be NULL or not a scalar
	rl_yaml_field value; // path: the mapping's path, a dot, the key
} rl_yaml_entry;

// rl_yaml_load parses text (len bytes; it must outlive the document) as one
// YAML document. It refuses, with a message in eb: bytes that are not UTF-8
// or NUL (checked before libfyaml sees them), malformed YAML, a second
// non-empty document, and aliases (*name) anywhere. An empty stream is a
// document whose root is null. On success *ret is the caller's
// (rl_yaml_doc_destroy); errors are RL_ERR_PARSE, or RL_ERR_NOMEM.
rl_err rl_yaml_load(const char *text, size_t len, rl_yaml_doc **ret, rl_yaml_errbuf *eb);

// rl_yaml_doc_destroy frees doc and all its nodes; NULL is a no-op.
void rl_yaml_doc_destroy(rl_yaml_doc *doc);

// rl_yaml_root describes the document's root as a field with the path "".
void rl_yaml_root(rl_yaml_doc *doc, rl_yaml_field *ret);

// rl_yaml_fail writes "FILE:LINE:COL: message" to eb (1:1 when at is
// unknown) and returns RL_ERR_PARSE.
rl_err rl_yaml_fail(const rl_yaml_errbuf *eb, rl_loc at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// rl_yaml_loc is where node was written, or fallback when that is not known
// (NULL, an empty collection). A collection is where its first entry is.
rl_loc rl_yaml_loc(rl_yaml_node *node, rl_loc fallback);

// rl_yaml_describe writes what the user wrote, for messages: 'text' (cut
// short), "a list", "a mapping" or "nothing"; returns buf.
const char *rl_yaml_describe(rl_yaml_node *node, char *buf, size_t size);

bool rl_yaml_is_scalar(rl_yaml_node *node); // false for NULL
bool rl_yaml_is_list(rl_yaml_node *node);
bool rl_yaml_is_mapping(rl_yaml_node *node);
// rl_yaml_count is the number of items of a list or mapping, else 0.
size_t rl_yaml_count(rl_yaml_node *node);
// rl_yaml_scalar_is tells whether node is a scalar whose text is word.
bool rl_yaml_scalar_is(rl_yaml_node *node, const char *word);

// rl_yaml_get_fields reads the mapping `map`, whose keys must come from keys[]
// (an empty value counts as an empty mapping): out[i] describes keys[i] and
// has the path "MAP.KEY". Unknown keys and missing required ones are errors;
// `form` shows the expected shape in messages, e.g. "{path: DIR}".
rl_err rl_yaml_get_fields(const rl_yaml_field *map, const rl_yaml_key *keys, const char *form,
    rl_yaml_field *out, rl_yaml_errbuf *eb);

// rl_yaml_map_next walks map (a mapping field; a NULL node has no entries):
// false at the end. Keys are not checked; see rl_yaml_get_fields.
bool rl_yaml_map_next(const rl_yaml_field *map, rl_yaml_iter *it, rl_yaml_entry *ret);

// rl_yaml_get_list checks that f is a non-empty list ("PATH: expected
// EXPECTED, got ...") and gives its length; walk it with rl_yaml_list_next.
rl_err rl_yaml_get_list(
    const rl_yaml_field *f, const char *expected, size_t *ret_n, rl_yaml_errbuf *eb);

// rl_yaml_list_next gives list's next item as a field with the path
// "PATH[i]"; false at the end.
bool rl_yaml_list_next(const rl_yaml_field *list, rl_yaml_iter *it, rl_yaml_field *ret);

// The typed getters read f's value; `expected` names what is wanted in
// messages ("a topic name"). Each writes *ret only on success; a string is
// the caller's (rl_free).

// rl_yaml_get_string reads a non-empty string without NUL characters.
rl_err rl_yaml_get_string(
    const rl_yaml_field *f, const char *expected, char **ret, rl_yaml_errbuf *eb);

// rl_yaml_get_regex reads a string that compiles as a POSIX extended regex.
rl_err rl_yaml_get_regex(
    const rl_yaml_field *f, const char *expected, char **ret, rl_yaml_errbuf *eb);

// rl_yaml_get_int reads a decimal integer from min to max.
rl_err rl_yaml_get_int(
    const rl_yaml_field *f, int64_t min, int64_t max, int64_t *ret, rl_yaml_errbuf *eb);

// rl_yaml_get_bool reads true or false (also True, TRUE, False, FALSE).
rl_err rl_yaml_get_bool(const rl_yaml_field *f, bool *ret, rl_yaml_errbuf *eb);

// rl_yaml_get_duration reads a duration such as 500ms, 1s, 5m, 1h, in ms.
rl_err rl_yaml_get_duration(const rl_yaml_field *f, int64_t *ret, rl_yaml_errbuf *eb);

// rl_yaml_get_enum reads one of names[] (NULL-terminated); *ret is its index.
rl_err rl_yaml_get_enum(
    const rl_yaml_field *f, const char *const *names, int *ret, rl_yaml_errbuf *eb);

// rl_yaml_get_string_map reads a mapping of names to scalar values, kept as
// written (`true` and `100` stay text). `expected` describes the mapping,
// `noun` its keys ("property" names must be strings). An empty value gives no
// entries (*ret_n = 0, NULL arrays). The two NULL-terminated arrays and their
// strings are the caller's.
rl_err rl_yaml_get_string_map(const rl_yaml_field *f, const char *expected, const char *noun,
    char ***ret_names, char ***ret_values, size_t *ret_n, rl_yaml_errbuf *eb);

#endif
