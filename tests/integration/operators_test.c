// SPDX-License-Identifier: Apache-2.0
// Operators beyond word count end to end (key_by {json: …}, repartition,
// union): a real Kafka broker, `rill run` with a driver and executor
// processes, results checked against references that Python or awk compute
// from the same input.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixtures/fixture.h"

// sum_field adds up the number after `key=` in every line of log that has needle.
static long
sum_field(const char *log, const char *needle, const char *key)
{
	long   total = 0;
	size_t klen = strlen(key);
	for (const char *p = log; (p = strstr(p, needle)) != NULL; p++) {
		const char *eol = strchr(p, '\n');
		const char *k = strstr(p, key);
		if (k != NULL && (eol == NULL || k < eol))
			total += strtol(k + klen, NULL, 10);
	}
	return total;
}

// ---- key_by: {json: PATH} ----

// JSON events keyed by user.id: string ids (some with escapes), integer ids,
// and records rill must drop: null or missing ids, a user that is not an
// object, values that are not JSON objects. Python's json module is the
// reference for which records count and under which key.
Test(key_by, json_path_counts_match_python, .timeout = 180)
{
	const char *dir = rt_tmpdir("json");
	const char *events = rt_path(dir, "events.jsonl"), *want = rt_path(dir, "want.tsv");
	const char *got = rt_path(dir, "got.tsv"), *out = rt_path(dir, "out");
	const char *bad = rt_path(dir, "malformed.txt");
	const char *gen = rt_write(dir, "gen.py",
	    "import json, random, sys\n"
	    "random.seed(7)\n"
	    "with open(sys.argv[1], 'w') as f:\n"
	    "    for i in range(20000):\n"
	    "        r = random.random()\n"
	    "        if r < 0.02:\n"
	    "            f.write('not json %%d\\n' %% i); continue\n"
	    "        if r < 0.03:\n"
	    "            f.write('{\"user\": {\"id\": \"u%%d\"}\\n' %% i); continue\n"
	    "        if r < 0.05:\n"
	    "            e = {'user': {'name': 'x'}, 'n': i}\n"
	    "        elif r < 0.06:\n"
	    "            e = {'user': {'id': None}}\n"
	    "        elif r < 0.07:\n"
	    "            e = {'user': 'u1'}\n"
	    "        elif r < 0.15:\n"
	    "            e = {'n': i, 'user': {'id': random.randint(1, 40)}}\n"
	    "        elif r < 0.20:\n"
	    "            e = {'user': {'id': 'caf\\u00e9 \"%%d\"' %% random.randint(1, 5)}}\n"
	    "        else:\n"
	    "            e = {'ts': i, 'user': {'tags': {'id': 'no'}, 'id': 'u%%d' %% int(1 / "
	    "(random.random() ** 2 + 0.01))}, 'v': [1, {'id': 2}]}\n"
	    "        f.write(json.dumps(e, ensure_ascii=random.random() < 0.5) + '\\n')\n");
	const char *ref = rt_write(dir, "ref.py",
	    "import json, sys, collections\n"
	    "c = collections.Counter(); bad = 0\n"
	    "for line in open(sys.argv[1], encoding='utf-8'):\n"
	    "    try:\n"
	    "        e = json.loads(line)\n"
	    "    except ValueError:\n"
	    "        bad += 1; continue\n"
	    "    if not isinstance(e, dict):\n"
	    "        bad += 1; continue\n"
	    "    u = e.get('user')\n"
	    "    if isinstance(u, dict) and u.get('id') is not None:\n"
	    "        c[str(u['id'])] += 1\n"
	    "with open(sys.argv[2], 'w', encoding='utf-8') as f:\n"
	    "    for k, n in c.items(): f.write('%%s\\t%%d\\n' %% (k, n))\n"
	    "open(sys.argv[3], 'w').write('%%d\\n' %% bad)\n");
	cr_assert_eq(rt_sh("python3 %s %s", gen, events), 0);
	cr_assert_eq(rt_sh("python3 %s %s %s.unsorted %s && LC_ALL=C sort %s.unsorted > %s", ref,
	                 events, want, bad, want, want),
	    0);
	cr_assert_eq(rt_sh("grep -q 'caf' %s && grep -q '\\\\u00e9' %s", want, events), 0,
	    "the corpus has escaped ids");
	rt_topic("json-events", 3);
	rt_produce_lines("json-events", events);
	const char *job = rt_write(dir, "job.yaml",
	    "name: json-keys\n"
	    "batch: 200ms\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [json-events], max_rate_per_partition: 20000}\n"
	    "pipeline:\n"
	    "  - key_by: {json: user.id}\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: count\n"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    rt_kafka(), out);
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --executors 2 --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_sink_totals(out, got);
	rt_assert_same_file(got, want);
	// The records that are not JSON objects were dropped and said so.
	char *nbad = rt_read(bad, NULL);
	cr_assert_gt(atol(nbad), 0);
	cr_assert_eq(sum_field(e, "msg=\"records dropped\"", " malformed="), atol(nbad), "%s", e);
	free(nbad);
}

// ---- repartition: N ----

// The words of a corpus on 2 partitions, dealt into 5: every batch that has
// at least 5 records writes 5 part files, the parts of a batch differ by at
// most one record per map task (at most 2 here), and the records come out
// exactly as they went in (keys and values: the counts equal the reference).
Test(repartition, deals_every_record_into_n_balanced_partitions, .timeout = 180)
{
	rt_wc       w = rt_wc_input("repart", "repart-words", 2, 6000, 17, true);
	const char *dir = w.dir;
	const char *job = rt_write(dir, "job.yaml",
	    "name: repart\n"
	    "batch: 200ms\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [repart-words], max_rate_per_partition: 5000}\n"
	    "pipeline:\n"
	    "  - flat_map: words\n"
	    "  - map_values: one\n"
	    "  - repartition: 5\n"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    rt_kafka(), w.out);
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --executors 2 --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_wc_assert_exact(&w);
	// Several batches (1000 records/partition/batch), each of 5 parts.
	int batches = rt_sh("exit $(ls -d %s/batch-* | wc -l)", w.out);
	cr_assert_geq(batches, 3, "%d batches", batches);
	cr_assert_eq(
	    rt_sh("for b in %s/batch-*; do test $(ls $b | wc -l) -eq 5 || exit 1; done", w.out), 0,
	    "a batch without 5 parts");
	cr_assert_eq(rt_sh("for b in %s/batch-*; do wc -l $b/part-* | grep -v total"
	                   " | awk '{ n = $1; if (NR == 1 || n < lo) lo = n; if (n > hi) hi = n }"
	                   " END { exit !(hi - lo <= 2) }' || { wc -l $b/part-* >&2; exit 1; };"
	                   " done",
	                 w.out),
	    0, "a batch's parts are not balanced");
}

// repartition then reduce_by_key: the reduce shuffles again (by key) and
// counts exactly.
Test(repartition, then_reduce_by_key_counts_exactly, .timeout = 180)
{
	rt_wc       w = rt_wc_input("repart-reduce", "repart-reduce", 3, 8000, 19, false);
	const char *dir = w.dir;
	const char *job = rt_write(dir, "job.yaml",
	    "name: repart-reduce\n"
	    "batch: 200ms\n"
	    "shuffle_partitions: 2\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [repart-reduce]}\n"
	    "pipeline:\n"
	    "  - repartition: 7\n"
	    "  - flat_map: words\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: sum\n"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    rt_kafka(), w.out);
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --executors 2 --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_wc_assert_exact(&w);
	// The sink stage has shuffle_partitions' width, not the repartition's.
	cr_assert_eq(
	    rt_sh("for b in %s/batch-*; do test $(ls $b | wc -l) -le 2 || exit 1; done", w.out), 0);
	// The batch ran 3 stages: read, the 7 dealt partitions, the reduce.
	cr_assert_not_null(strstr(e, "stages=3"), "%s", e);
}

// ---- union: {kafka: {...}} ----

// union_input makes the two topics of a union test: `main` holds a word
// corpus of main_lines lines on 4 partitions, `other` one word a line
// (words of the same kind, so keys of both meet) on 2 partitions. The
// reference counts the words of main's lines and other's lines whole: the
// union's records only go through the steps after the union.
static rt_wc
union_input(const char *tag, const char *main, const char *other, int main_lines, int seed)
{
	rt_wc       w = rt_wc_input(tag, main, 4, main_lines, seed, true);
	const char *other_lines = rt_path(w.dir, "other.txt");
	cr_assert_eq(rt_sh("awk 'BEGIN { srand(%d); for (i = 0; i < %d; i++)"
	                   " print \"w\" int(1 / (rand() ^ 2 + 0.002)) }' > %s",
	                 seed + 1, main_lines / 2, other_lines),
	    0);
	cr_assert_eq(rt_sh("{ tr -s ' ' '\\n' < %s | grep -v '^$'; cat %s; } | LC_ALL=C sort"
	                   " | uniq -c | awk '{ print $2 \"\\t\" $1 }' > %s",
	                 w.corpus, other_lines, w.want),
	    0);
	rt_topic(other, 2);
	rt_produce_spread(other, 2, other_lines);
	return w;
}

static const char *
union_job(const rt_wc *w, const char *name, const char *main, const char *other, long rate)
{
	return rt_write(w->dir, "job.yaml",
	    "name: %s\n"
	    "batch: 100ms\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [%s], max_rate_per_partition: %ld}\n"
	    "pipeline:\n"
	    "  - flat_map: words\n"
	    "  - union: {kafka: {brokers: \"%s\", topics: [%s], max_rate_per_partition: %ld}}\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: sum\n"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    name, rt_kafka(), main, rate, rt_kafka(), other, rate, w->out);
}

Test(union_, second_topic_joins_the_stream_at_its_step, .timeout = 180)
{
	rt_wc       w = union_input("union", "union-main", "union-other", 12000, 5);
	const char *job = union_job(&w, "union", "union-main", "union-other", 10000);
	char       *o, *e;
	int         rv = rt_sh_capture(w.dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --executors 2 --available-now", rt_bin("rill"), job);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	rt_wc_assert_exact(&w);
	// Every record of both topics was read: 12000 lines and 6000.
	cr_assert_eq(sum_field(e, "msg=\"batch done\"", " records="), 12000 + 6000, "%s", e);
}

// Both inputs' progress is in the checkpoint: runs killed with SIGKILL
// (driver and executors) while both topics still have data, then a run to
// the end, count every record of both exactly once.
Test(union_, progress_of_both_inputs_survives_kills, .timeout = 240)
{
	rt_wc       w = union_input("union-kill", "union-kill-main", "union-kill-other", 24000, 9);
	const char *ckp = rt_path(w.dir, "checkpoint");
	// 4 x 6000 and 2 x 6000 records at 2500/s per partition: about 2.4 s of batches.
	const char *job = union_job(&w, "union-kill", "union-kill-main", "union-kill-other", 2500);
	const char *delays[] = { "0.9", "1.4" };
	for (int i = 0; i < 2; i++) {
		char *o, *e;
		int   rv = rt_sh_capture(w.dir, &o, &e,
		      "setsid %s run %s --checkpoint-dir %s & run=$!; sleep %s;"
		        " /bin/kill -KILL -- -$run; wait $run",
		      rt_bin("rill"), job, ckp, delays[i]);
		cr_assert_eq(rv, 128 + 9, "run %d was killed: status %d\n%s", i, rv, e);
	}
	char *o, *e;
	int   rv = rt_sh_capture(w.dir, &o, &e,
	      "RILL_LOG_LEVEL=info %s run %s --checkpoint-dir %s --available-now", rt_bin("rill"),
	      job, ckp);
	cr_assert_eq(rv, 0, "the resumed run exited %d:\n%s", rv, e);
	// The killed runs had done batches: the last run did not start over.
	cr_assert_lt(sum_field(e, "msg=\"batch done\"", " records="), 24000 + 12000, "%s", e);
	rt_wc_assert_exact(&w);
}

// ---- join: {kafka: {...}, pipeline: [...], kind: inner|left} ----

// join_input makes the two topics of a join test: `events` (4 partitions)
// holds "USER,eN" lines, `users` (2 partitions) "USER,nN" lines. Users are
// drawn from a smaller range than events' and repeat (several names a user
// in one batch: every pair comes out), so some events have no user in
// their batch (inner drops them, left keeps them) and some users no event.
static const char *
join_input(const char *dir, const char *events_topic, const char *users_topic, int nevents,
    int nusers, int seed)
{
	const char *gen = rt_write(dir, "gen.py",
	    "import random, sys\n"
	    "random.seed(int(sys.argv[1]))\n"
	    "with open(sys.argv[2], 'w') as f:\n"
	    "    for i in range(int(sys.argv[3])):\n"
	    "        f.write(f'u{int(1 / (random.random() ** 2 + 0.003))},e{i}\\n')\n"
	    "with open(sys.argv[4], 'w') as f:\n"
	    "    for i in range(int(sys.argv[5])):\n"
	    "        f.write(f'u{random.randint(1, 250)},n{i}\\n')\n");
	const char *events = rt_path(dir, "events.txt"), *users = rt_path(dir, "users.txt");
	cr_assert_eq(
	    rt_sh("python3 %s %d %s %d %s %d", gen, seed, events, nevents, users, nusers), 0);
	rt_topic(events_topic, 4);
	rt_produce_spread(events_topic, 4, events);
	rt_topic(users_topic, 2);
	rt_produce_spread(users_topic, 2, users);
	return dir;
}

static const char *
join_job(const char *dir, const char *name, const char *events_topic, const char *users_topic,
    const char *kind, const char *after, const char *out)
{
	return rt_write(dir, "job.yaml",
	    "name: %s\n"
	    "batch: 100ms\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [%s], max_rate_per_partition: 8000}\n"
	    "pipeline:\n"
	    "  - key_by: {field: 1, sep: \",\"}\n"
	    "  - map_values: {field: 2, sep: \",\"}\n"
	    "  - join:\n"
	    "      kafka: {brokers: \"%s\", topics: [%s], max_rate_per_partition: 3000}\n"
	    "      pipeline:\n"
	    "        - key_by: {field: 1, sep: \",\"}\n"
	    "        - map_values: {field: 2, sep: \",\"}\n"
	    "      kind: %s\n"
	    "%s"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    name, rt_kafka(), events_topic, rt_kafka(), users_topic, kind, after, out);
}

// join_assert_exact checks every batch's output against Python's join of
// the records that batch read, as its checkpoint record says: the done
// records' ranges tile every split from offset 0 to its end, each batch
// directory has a done record, and batch T holds exactly, for each event of
// T, one line per user line of T with its key ("KEY<TAB>EVENT<TAB>NAME"),
// or with kind left "KEY<TAB>EVENT<TAB>" when there is none. `after` says
// what the steps after the join did: "upper", the value (not the key) as
// map: upper leaves it; "count", map_values: one and reduce_by_key: sum,
// each key's number of those lines ("KEY<TAB>N"); "" nothing. Returns the
// number of batches.
static int
join_assert_exact(
    const char *dir, const char *ckp, const char *out, const char *kind, const char *after)
{
	const char *ref = rt_write(dir, "ref.py",
	    "import collections, glob, os, struct, sys\n"
	    "ckp, events, users, out, kind, after, want, got = sys.argv[1:9]\n"
	    "def varint(b, i):\n"
	    "    r = s = 0\n"
	    "    while True:\n"
	    "        c = b[i]; i += 1; r |= (c & 0x7f) << s; s += 7\n"
	    "        if c < 0x80: return r, i\n"
	    "def fields(b):\n"
	    "    i = 0\n"
	    "    while i < len(b):\n"
	    "        k, i = varint(b, i); f, t = k >> 3, k & 7\n"
	    "        if t == 0: v, i = varint(b, i)\n"
	    "        elif t == 2: n, i = varint(b, i); v = b[i:i + n]; i += n\n"
	    "        elif t == 1: v = b[i:i + 8]; i += 8\n"
	    "        elif t == 5: v = b[i:i + 4]; i += 4\n"
	    "        else: raise ValueError('wire type ' + str(t))\n"
	    "        yield f, v\n"
	    "def lines(path, parts):\n"
	    "    at = {}; n = collections.Counter()\n"
	    "    for nr, line in enumerate(open(path), 1):\n"
	    "        p = nr - nr // parts * parts\n"
	    "        k, v = line.rstrip('\\n').split(',')\n"
	    "        at[(p, n[p])] = (k, v); n[p] += 1\n"
	    "    return at, n\n"
	    "ev, ev_n = lines(events, 4)\n"
	    "us, us_n = lines(users, 2)\n"
	    "inputs = {0: (ev, ev_n), 1: (us, us_n)}\n"
	    "batches = {}; covered = collections.defaultdict(list)\n"
	    "for path in glob.glob(os.path.join(ckp, 'batches', '*.done')):\n"
	    "    data = open(path, 'rb').read()\n"
	    "    assert data[:8] == b'RILLCKP1', path\n"
	    "    n = struct.unpack('>I', data[8:12])[0]\n"
	    "    t = None; ranges = []\n"
	    "    for f, v in fields(data[16:16 + n]):\n"
	    "        if f == 5: t = v\n"
	    "        if f == 18:\n"
	    "            r = dict(fields(v))\n"
	    "            p = int(r[2].decode().rsplit('/', 1)[1])\n"
	    "            ranges.append((r.get(8, 0), p, r.get(3, 0), r.get(4, 0)))\n"
	    "    batches[t] = ranges\n"
	    "    for inp, p, a, b in ranges:\n"
	    "        if b > a: covered[(inp, p)].append((a, b))\n"
	    "for inp, (at, n) in inputs.items():\n"
	    "    for p in n:\n"
	    "        pos = 0\n"
	    "        for a, b in sorted(covered[(inp, p)]):\n"
	    "            assert a == pos, f'input {inp} partition {p}: gap or overlap at {pos}: "
	    "{a}'\n"
	    "            pos = b\n"
	    "        assert pos == n[p], f'input {inp} partition {p}: read to {pos} of {n[p]}'\n"
	    "dirs = {int(os.path.basename(d)[6:]) for d in glob.glob(os.path.join(out, "
	    "'batch-*'))}\n"
	    "assert dirs <= set(batches), f'batches without a done record: {dirs - set(batches)}'\n"
	    "with open(want, 'w') as w, open(got, 'w') as g:\n"
	    "    for t in sorted(batches):\n"
	    "        side = {0: [], 1: collections.defaultdict(list)}\n"
	    "        for inp, p, a, b in batches[t]:\n"
	    "            for o in range(a, b):\n"
	    "                k, v = inputs[inp][0][(p, o)]\n"
	    "                if inp == 0: side[0].append((k, v))\n"
	    "                else: side[1][k].append(v)\n"
	    "        rows = []\n"
	    "        for k, v in side[0]:\n"
	    "            names = side[1].get(k) or ([''] if kind == 'left' else [])\n"
	    "            for n in names:\n"
	    "                val = f'{v}\\t{n}'\n"
	    "                rows.append(f'{t}\\t{k}\\t' + (val.upper() if after == 'upper' else "
	    "val))\n"
	    "        if after == 'count':\n"
	    "            c = collections.Counter(r.split('\\t')[1] for r in rows)\n"
	    "            rows = [f'{t}\\t{k}\\t{n}' for k, n in c.items()]\n"
	    "        w.writelines(r + '\\n' for r in sorted(rows))\n"
	    "        found = []\n"
	    "        for part in glob.glob(os.path.join(out, f'batch-{t}', 'part-*')):\n"
	    "            found += [f'{t}\\t' + l for l in open(part)]\n"
	    "        g.writelines(sorted(found))\n"
	    "print(len(batches))\n");
	const char *want = rt_path(dir, "want.tsv"), *got = rt_path(dir, "got.tsv");
	char       *o, *e;
	int rv = rt_sh_capture(dir, &o, &e, "python3 %s %s %s %s %s %s '%s' %s %s", ref, ckp,
	    rt_path(dir, "events.txt"), rt_path(dir, "users.txt"), out, kind, after, want, got);
	cr_assert_eq(rv, 0, "the reference failed: %s", e);
	rt_assert_same_file(got, want);
	return atoi(o);
}

// An inner join over several batches: each batch's events meet the users
// read in the same batch, every pair of equal keys once.
Test(join, inner_matches_python_per_batch, .timeout = 180)
{
	const char *dir = rt_tmpdir("join-inner");
	const char *out = rt_path(dir, "out"), *ckp = rt_path(dir, "checkpoint");
	join_input(dir, "join-events", "join-users", 24000, 3000, 3);
	const char *job
	    = join_job(dir, "join-inner", "join-events", "join-users", "inner", "", out);
	char *o, *e;
	int   rv = rt_sh_capture(dir, &o, &e,
	      "RILL_LOG_LEVEL=info %s run %s --executors 2 --checkpoint-dir %s --available-now",
	      rt_bin("rill"), job, ckp);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	int batches = join_assert_exact(dir, ckp, out, "inner", "");
	cr_assert_geq(batches, 3, "%d batches", batches);
	// Both topics were read whole; the join's stage ran after the read.
	cr_assert_eq(sum_field(e, "msg=\"batch done\"", " records="), 24000 + 3000, "%s", e);
	cr_assert_not_null(strstr(e, "stages=2"), "%s", e);
	// Pairs came out (the reference is not empty either way).
	cr_assert_eq(
	    rt_sh("cat %s/batch-*/part-* | grep -q -P '^u[0-9]+\\te[0-9]+\\tn[0-9]+$'", out), 0);
}

// A left join with a step after it, killed twice mid-run and resumed: every
// batch's output is still exactly its own join (re-run batches read the
// ranges they recorded, from both topics), and events without a user come
// out with an empty name.
Test(join, left_survives_kills_exactly_per_batch, .timeout = 240)
{
	const char *dir = rt_tmpdir("join-left");
	const char *out = rt_path(dir, "out"), *ckp = rt_path(dir, "checkpoint");
	join_input(dir, "join-left-events", "join-left-users", 48000, 6000, 11);
	const char *job = join_job(dir, "join-left", "join-left-events", "join-left-users", "left",
	    "  - map: upper\n", out);
	const char *delays[] = { "0.9", "1.3" };
	for (int i = 0; i < 2; i++) {
		char *o, *e;
		int   rv = rt_sh_capture(dir, &o, &e,
		      "setsid %s run %s --checkpoint-dir %s & run=$!; sleep %s;"
		        " /bin/kill -KILL -- -$run; wait $run",
		      rt_bin("rill"), job, ckp, delays[i]);
		cr_assert_eq(rv, 128 + 9, "run %d was killed: status %d\n%s", i, rv, e);
	}
	char *o, *e;
	int   rv = rt_sh_capture(dir, &o, &e,
	      "RILL_LOG_LEVEL=info %s run %s --checkpoint-dir %s --available-now", rt_bin("rill"),
	      job, ckp);
	cr_assert_eq(rv, 0, "the resumed run exited %d:\n%s", rv, e);
	// The killed runs had done batches: the last run did not start over.
	cr_assert_lt(sum_field(e, "msg=\"batch done\"", " records="), 48000 + 6000, "%s", e);
	int batches = join_assert_exact(dir, ckp, out, "left", "upper");
	cr_assert_geq(batches, 4, "%d batches", batches);
	// Events without a user in their batch: "KEY<TAB>EVENT<TAB>", upper-cased.
	cr_assert_eq(rt_sh("cat %s/batch-*/part-* | grep -q -P '^u[0-9]+\\tE[0-9]+\\t$'", out), 0);
}

// A reduce after a join: the join stage's records shuffle again, by key,
// and each key's number of pairs in the batch comes out (3 stages).
Test(join, then_reduce_by_key_counts_each_batchs_pairs, .timeout = 180)
{
	const char *dir = rt_tmpdir("join-count");
	const char *out = rt_path(dir, "out"), *ckp = rt_path(dir, "checkpoint");
	join_input(dir, "join-count-events", "join-count-users", 16000, 2000, 23);
	const char *job = join_job(dir, "join-count", "join-count-events", "join-count-users",
	    "left", "  - map_values: one\n  - reduce_by_key: sum\n", out);
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e,
	            "RILL_LOG_LEVEL=info %s run %s --executors 2 --checkpoint-dir %s --available-now",
	            rt_bin("rill"), job, ckp);
	cr_assert_eq(rv, 0, "rill run exited %d:\n%s", rv, e);
	int batches = join_assert_exact(dir, ckp, out, "left", "count");
	cr_assert_geq(batches, 2, "%d batches", batches);
	cr_assert_not_null(strstr(e, "stages=3"), "%s", e);
}

// A join's mistakes are the job file's: exit 2 with the place.
Test(join, refused_shapes_name_their_place, .timeout = 60)
{
	const char *dir = rt_tmpdir("join-refused");
	const char *after = rt_write(dir, "after.yaml",
	    "name: join-after\n"
	    "batch: 1s\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [join-events]}\n"
	    "pipeline:\n"
	    "  - map_values: one\n"
	    "  - reduce_by_key: sum\n"
	    "  - join: {kafka: {brokers: \"%s\", topics: [join-users]}}\n"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    rt_kafka(), rt_kafka(), rt_path(dir, "out"));
	char       *o, *e;
	int         rv = rt_sh_capture(dir, &o, &e, "%s run %s", rt_bin("rill"), after);
	cr_assert_eq(rv, 2, "exit %d: %s", rv, e);
	cr_assert_not_null(
	    strstr(e, "after.yaml:8:5: join after a shuffle is not supported"), "%s", e);
	const char *inside = rt_write(dir, "inside.yaml",
	    "name: join-inside\n"
	    "batch: 1s\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [join-events]}\n"
	    "pipeline:\n"
	    "  - key_by: value\n"
	    "  - join:\n"
	    "      kafka: {brokers: \"%s\", topics: [join-users]}\n"
	    "      pipeline:\n"
	    "        - key_by: value\n"
	    "        - count_by_value: {}\n"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    rt_kafka(), rt_kafka(), rt_path(dir, "out"));
	rv = rt_sh_capture(dir, &o, &e, "%s run %s", rt_bin("rill"), inside);
	cr_assert_eq(rv, 2, "exit %d: %s", rv, e);
	cr_assert_not_null(strstr(e,
	                       "inside.yaml:11:11: count_by_value inside a join's pipeline is not "
	                       "supported"),
	    "%s", e);
	// Kafka messages without keys and no key_by on the join's side: the
	// batch fails at once, naming the join and the side to fix.
	const char *lines = rt_write(dir, "lines.txt", "a,1\nb,2\n");
	rt_topic("join-keyless", 1);
	rt_produce_lines("join-keyless", lines);
	const char *keyless = rt_write(dir, "keyless.yaml",
	    "name: join-keyless\n"
	    "batch: 100ms\n"
	    "source:\n"
	    "  kafka: {brokers: \"%s\", topics: [join-keyless]}\n"
	    "pipeline:\n"
	    "  - key_by: {field: 1, sep: \",\"}\n"
	    "  - join: {kafka: {brokers: \"%s\", topics: [join-keyless]}}\n"
	    "sink:\n"
	    "  files: {path: %s}\n",
	    rt_kafka(), rt_kafka(), rt_path(dir, "out"));
	rv = rt_sh_capture(dir, &o, &e, "%s run %s --available-now", rt_bin("rill"), keyless);
	cr_assert_eq(rv, 1, "exit %d: %s", rv, e);
	cr_assert_not_null(
	    strstr(e,
	        "join (line 7, column 5 of the job file) needs keyed records on both sides: "
	        "put key_by or map_values in the join's pipeline"),
	    "%s", e);
	cr_assert_not_null(strstr(e, "retrying cannot help"), "%s", e);
}
