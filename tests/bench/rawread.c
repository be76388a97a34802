// SPDX-License-Identifier: Apache-2.0
// rill-rawread: the Kafka client library's own read speed on a topic, the
// reference tests/bench/run.sh puts beside rill's: every partition read from
// its beginning to the end offset it had at start, one librdkafka consumer
// per thread, every payload byte summed into a checksum, nothing printed
// per record.
//
// A benchmark peer, not product code: it includes rdkafka.h and links
// librdkafka directly, and uses nothing of rill (the house rule that only
// common/kafka*.c includes rdkafka.h is for rill itself).
//
// How it reads. The partition count comes from the topic's metadata; the
// low and end offsets of every partition from one ListOffsets round
// (rd_kafka_offsets_for_times with RD_KAFKA_OFFSET_BEGINNING / _END, the
// watermarks). Partitions go to threads round-robin (partition p to thread
// p % threads); each thread has its own client (rd_kafka_t) and starts its
// partitions at their low offsets on one queue with the legacy consumer API
// (rd_kafka_consume_start_queue: no consumer group, no assignment protocol,
// as kcat -C and rill's reader), drains that queue without waiting
// (rd_kafka_consume_batch_queue with timeout 0) and, when it is empty,
// waits for one message (rd_kafka_consume_queue): a batch call with a
// timeout would wait for a full batch. A partition is done when its record
// at end - 1 (or a partition-EOF event at or past end) has been seen;
// records past the end (written after the start) are not counted.
//
// Settings. Everything that sizes prefetch and fetches is librdkafka's
// default (2.0: queued.min.messages 100000 and queued.max.messages.kbytes
// 65536 per partition, fetch.message.max.bytes 1 MB per partition,
// fetch.max.bytes 50 MB per request, fetch.wait.max.ms 500,
// fetch.min.bytes 1), neither tuned up nor down. Only bookkeeping that is
// not reading is changed: no offset commits or stores
// (enable.auto.commit and enable.auto.offset.store false)
// and partition-EOF events on (enable.partition.eof true), so that a
// partition whose last offsets hold no record (transaction markers) still
// finishes.
//
// Output: one line, "records=N bytes=M seconds=S checksum=X partitions=P
// threads=T per_partition_min=A per_partition_median=B
// per_partition_max=C"; bytes are payload bytes, checksum the sum of their
// values, seconds from the start of the program to the last record (the
// clients' teardown after it is not counted), per_partition_* the records
// read from each partition (how the topic is laid out). Exit 0 when every
// partition was read to its end, 1 (with a message naming what is missing)
// when not within --timeout, or on any other error; 2 on bad arguments.
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define MAX_THREADS_DEFAULT 64
#define DRAIN_MAX 1024
#define META_TIMEOUT_MS 30000
#define EXTRA_MAX 32
// Clients connecting at once. Kafka's listen backlog is 50
// (socket.listen.backlog.size): 64 clients connecting together overflow it
// now and then, and a dropped SYN costs its client a second (the kernel's
// first retransmit), which is the broker's accept queue, not reading.
#define CONNECTING_MAX 16

static pthread_mutex_t connecting_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  connecting_cv = PTHREAD_COND_INITIALIZER;
static int             connecting;

// -X KEY=VALUE settings, applied after the tool's own (the bench passes none).
static char  *extra_keys[EXTRA_MAX], *extra_values[EXTRA_MAX];
static size_t extra_count;

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: rill-rawread --brokers HOST:PORT --topic T [--threads N] [--timeout SECONDS]\n"
	    "                    [-X KEY=VALUE]...\n"
	    "\n"
	    "Reads every partition of T from its beginning to the end offset it had at\n"
	    "start with librdkafka (default settings), N threads with a consumer each\n"
	    "(default: one per partition, at most 64; partitions share threads\n"
	    "round-robin beyond that), sums every payload byte and prints\n"
	    "  records=N bytes=M seconds=S checksum=X partitions=P threads=T\n"
	    "  per_partition_min=A per_partition_median=B per_partition_max=C\n"
	    "Exits 1 if it cannot read everything within the timeout (default 300 s).\n"
	    "-X sets a librdkafka property (to look into a run, e.g. -X debug=fetch).\n");
}

static double
mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool
arg_long(const char *opt, const char *s, long min, long max, long *ret)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "rill-rawread: %s: '%s' is not a number from %ld to %ld\n", opt, s,
		    min, max);
		return false;
	}
	*ret = v;
	return true;
}

// One partition's read: [low, end) at start, what was read of it.
typedef struct part {
	int32_t pt_partition;
	int64_t pt_low, pt_end;
	int64_t pt_next; // the offset after the last one seen
	int64_t pt_records;
	bool    pt_done;
} part;

// One thread's consumer and its partitions (r_parts[i] is partition
// r_index + i * r_stride).
typedef struct reader {
	pthread_t   r_thread;
	int         r_index, r_stride; // it reads partitions index + k * stride
	const char *r_brokers, *r_topic;
	part       *r_parts;
	size_t      r_nparts;
	double      r_deadline;
	// results
	uint64_t r_bytes, r_checksum;
	double   r_finished; // mono_s() at its last partition's end
	bool     r_ok;
	char     r_why[512];
} reader;

// conf_new makes a client configuration: librdkafka's defaults but for the
// bookkeeping in the file comment.
static rd_kafka_conf_t *
conf_new(const char *brokers, char *why, size_t whylen)
{
	static const char *const settings[][2] = {
		{ "client.id", "rill-rawread" },
		{ "enable.auto.commit", "false" },
		{ "enable.auto.offset.store", "false" },
		{ "enable.partition.eof", "true" },
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, whylen) != RD_KAFKA_CONF_OK)
		goto err;
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], why, whylen)
		    != RD_KAFKA_CONF_OK)
			goto err;
	for (size_t i = 0; i < extra_count; i++)
		if (rd_kafka_conf_set(conf, extra_keys[i], extra_values[i], why, whylen)
		    != RD_KAFKA_CONF_OK)
			goto err;
	return conf;
err:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

static rd_kafka_t *
client_new(const char *brokers, char *why, size_t whylen)
{
	rd_kafka_conf_t *conf = conf_new(brokers, why, whylen);
	if (conf == NULL)
		return NULL;
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, whylen);
	if (rk == NULL)
		rd_kafka_conf_destroy(conf);
	return rk;
}

// seen notes offset of p as seen (a record, or EOF at offset); p is done
// once it is at or past its end.
static void
seen(part *p, int64_t next, size_t *remaining)
{
	if (next > p->pt_next)
		p->pt_next = next;
	if (!p->pt_done && p->pt_next >= p->pt_end) {
		p->pt_done = true;
		(*remaining)--;
	}
}

// connect_client makes r's client and its topic and waits for the topic's
// metadata (which its partitions' fetches need first anyway), at most
// CONNECTING_MAX threads at a time.
static bool
connect_client(reader *r, rd_kafka_t **rk, rd_kafka_topic_t **rkt)
{
	const struct rd_kafka_metadata *md = NULL;
	bool                            ok = false;
	pthread_mutex_lock(&connecting_mu);
	while (connecting >= CONNECTING_MAX)
		pthread_cond_wait(&connecting_cv, &connecting_mu);
	connecting++;
	pthread_mutex_unlock(&connecting_mu);
	if ((*rk = client_new(r->r_brokers, r->r_why, sizeof(r->r_why))) == NULL)
		goto out;
	if ((*rkt = rd_kafka_topic_new(*rk, r->r_topic, NULL)) == NULL) {
		snprintf(r->r_why, sizeof(r->r_why), "topic %s: %s", r->r_topic,
		    rd_kafka_err2str(rd_kafka_last_error()));
		goto out;
	}
	int                 ms = (int)((r->r_deadline - mono_s()) * 1000);
	rd_kafka_resp_err_t err = rd_kafka_metadata(*rk, 0, *rkt, &md, ms > 0 ? ms : 1);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(r->r_why, sizeof(r->r_why), "metadata of %s: %s", r->r_topic,
		    rd_kafka_err2str(err));
		goto out;
	}
	rd_kafka_metadata_destroy(md);
	ok = true;
out:
	pthread_mutex_lock(&connecting_mu);
	connecting--;
	pthread_cond_signal(&connecting_cv);
	pthread_mutex_unlock(&connecting_mu);
	return ok;
}

static void *
reader_main(void *arg)
{
	reader           *r = arg;
	rd_kafka_t       *rk = NULL;
	rd_kafka_topic_t *rkt = NULL;
	rd_kafka_queue_t *q = NULL;
	size_t            started = 0, remaining = 0;
	uint64_t          bytes = 0, sum = 0;
	if (!connect_client(r, &rk, &rkt))
		goto out;
	q = rd_kafka_queue_new(rk);
	for (size_t i = 0; i < r->r_nparts; i++) {
		part *p = &r->r_parts[i];
		if (p->pt_low >= p->pt_end) {
			p->pt_done = true; // empty
			continue;
		}
		if (rd_kafka_consume_start_queue(rkt, p->pt_partition, p->pt_low, q) == -1) {
			snprintf(r->r_why, sizeof(r->r_why), "partition %" PRId32 ": start: %s",
			    p->pt_partition, rd_kafka_err2str(rd_kafka_last_error()));
			goto out;
		}
		p->pt_next = p->pt_low;
		started = i + 1;
		remaining++;
	}
	rd_kafka_message_t *msgs[DRAIN_MAX];
	while (remaining > 0) {
		ssize_t n = rd_kafka_consume_batch_queue(q, 0, msgs, DRAIN_MAX);
		if (n < 0) {
			snprintf(r->r_why, sizeof(r->r_why), "consume: %s",
			    rd_kafka_err2str(rd_kafka_last_error()));
			goto out;
		}
		if (mono_s() > r->r_deadline) {
			for (ssize_t k = 0; k < n; k++)
				rd_kafka_message_destroy(msgs[k]);
			break;
		}
		if (n == 0) {
			rd_kafka_message_t *m = rd_kafka_consume_queue(q, 100);
			if (m == NULL)
				continue;
			msgs[0] = m;
			n = 1;
		}
		for (ssize_t k = 0; k < n; k++) {
			rd_kafka_message_t *m = msgs[k];
			if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR
			    && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				// Transient ones (a broker's connection) heal
				// themselves; the deadline catches the rest.
				fprintf(stderr, "rill-rawread: partition %" PRId32 ": %s\n",
				    m->partition, rd_kafka_message_errstr(m));
				rd_kafka_message_destroy(m);
				continue;
			}
			int32_t slot = (m->partition - r->r_index) / r->r_stride;
			if (m->partition < r->r_index
			    || (m->partition - r->r_index) % r->r_stride != 0
			    || (size_t)slot >= r->r_nparts) {
				rd_kafka_message_destroy(m); // not one of ours: cannot be
				continue;
			}
			part *p = &r->r_parts[slot];
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				seen(p, m->offset, &remaining);
			} else if (m->offset < p->pt_end) {
				const unsigned char *b = m->payload;
				uint64_t             s = 0;
				for (size_t i = 0; i < m->len; i++)
					s += b[i];
				sum += s;
				bytes += m->len;
				p->pt_records++;
				seen(p, m->offset + 1, &remaining);
			}
			rd_kafka_message_destroy(m);
		}
	}
	r->r_finished = mono_s();
	if (remaining > 0) {
		for (size_t i = 0; i < r->r_nparts; i++) {
			part *p = &r->r_parts[i];
			if (!p->pt_done) {
				snprintf(r->r_why, sizeof(r->r_why),
				    "timed out: partition %" PRId32 " at offset %" PRId64
				    " of [%" PRId64 ", %" PRId64 ") (%zu partitions of thread %d "
				    "unfinished)",
				    p->pt_partition, p->pt_next, p->pt_low, p->pt_end, remaining,
				    r->r_index);
				break;
			}
		}
		goto out;
	}
	r->r_ok = true;
out:
	r->r_bytes = bytes;
	r->r_checksum = sum;
	for (size_t i = 0; i < started; i++)
		if (r->r_parts[i].pt_low < r->r_parts[i].pt_end)
			rd_kafka_consume_stop(rkt, r->r_parts[i].pt_partition);
	if (q != NULL)
		rd_kafka_queue_destroy(q);
	if (rkt != NULL)
		rd_kafka_topic_destroy(rkt);
	if (rk != NULL)
		rd_kafka_destroy(rk);
	return NULL;
}

// watermarks fills parts[i].pt_low and pt_end for partitions 0..n-1 of
// topic with one ListOffsets round each.
static bool
watermarks(
    rd_kafka_t *rk, const char *topic, part *parts, int n, int timeout_ms, char *why, size_t whylen)
{
	for (int which = 0; which < 2; which++) {
		rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
		for (int i = 0; i < n; i++)
			rd_kafka_topic_partition_list_add(l, topic, i)->offset
			    = which == 0 ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
		rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, l, timeout_ms);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(why, whylen, "%s offsets of %s: %s", which == 0 ? "low" : "end",
			    topic, rd_kafka_err2str(err));
			rd_kafka_topic_partition_list_destroy(l);
			return false;
		}
		for (int i = 0; i < l->cnt; i++) {
			rd_kafka_topic_partition_t *tp = &l->elems[i];
			if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR || tp->offset < 0
			    || tp->partition < 0 || tp->partition >= n) {
				snprintf(why, whylen, "%s offset of %s [%" PRId32 "]: %s",
				    which == 0 ? "low" : "end", topic, tp->partition,
				    tp->err ? rd_kafka_err2str(tp->err) : "none returned");
				rd_kafka_topic_partition_list_destroy(l);
				return false;
			}
			if (which == 0)
				parts[tp->partition].pt_low = tp->offset;
			else
				parts[tp->partition].pt_end = tp->offset;
		}
		rd_kafka_topic_partition_list_destroy(l);
	}
	return true;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "topic", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *brokers = NULL, *topic = NULL;
	long        threads = 0, timeout = 300;
	int         c;
	while ((c = getopt_long(argc, argv, "hX:", longopts, NULL)) != -1) {
		switch (c) {
		case 'X': {
			char *eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg || extra_count == EXTRA_MAX) {
				fprintf(stderr,
				    "rill-rawread: -X %s: want KEY=VALUE (at most %d)\n", optarg,
				    EXTRA_MAX);
				return 2;
			}
			*eq = '\0';
			extra_keys[extra_count] = optarg;
			extra_values[extra_count++] = eq + 1;
			break;
		}
		case 'b':
			brokers = optarg;
			break;
		case 't':
			topic = optarg;
			break;
		case 'n':
			if (!arg_long("--threads", optarg, 1, 4096, &threads))
				return 2;
			break;
		case 'T':
			if (!arg_long("--timeout", optarg, 1, 86400, &timeout))
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (brokers == NULL || topic == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	double   start = mono_s(), deadline = start + (double)timeout;
	int      meta_ms = timeout * 1000 < META_TIMEOUT_MS ? (int)timeout * 1000 : META_TIMEOUT_MS;
	char     why[512];
	int      rv = 1, nparts = 0, nthreads = 0;
	part    *parts = NULL;
	reader  *readers = NULL;
	int64_t *counts = NULL;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t               *rkt = NULL;
	rd_kafka_t                     *meta = client_new(brokers, why, sizeof(why));
	if (meta == NULL) {
		fprintf(stderr, "rill-rawread: %s\n", why);
		return 1;
	}
	// The topic's partitions (asking for this topic alone does not create it).
	rkt = rd_kafka_topic_new(meta, topic, NULL);
	rd_kafka_resp_err_t err
	    = rkt == NULL ? rd_kafka_last_error() : rd_kafka_metadata(meta, 0, rkt, &md, meta_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "rill-rawread: metadata of %s from %s: %s\n", topic, brokers,
		    rd_kafka_err2str(err));
		goto out;
	}
	if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR
	    || md->topics[0].partition_cnt <= 0) {
		fprintf(stderr, "rill-rawread: topic %s: %s\n", topic,
		    md->topic_cnt != 1 ? "not in the metadata"
		        : md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR
		        ? rd_kafka_err2str(md->topics[0].err)
		        : "no partitions");
		goto out;
	}
	nparts = md->topics[0].partition_cnt;
	parts = calloc((size_t)nparts, sizeof(*parts));
	counts = calloc((size_t)nparts, sizeof(*counts));
	if (parts == NULL || counts == NULL) {
		fprintf(stderr, "rill-rawread: out of memory\n");
		goto out;
	}
	if (!watermarks(meta, topic, parts, nparts, meta_ms, why, sizeof(why))) {
		fprintf(stderr, "rill-rawread: %s\n", why);
		goto out;
	}
	nthreads = threads > 0 ? (int)threads
	                       : (nparts < MAX_THREADS_DEFAULT ? nparts : MAX_THREADS_DEFAULT);
	if (nthreads > nparts)
		nthreads = nparts;
	// Thread t reads partitions t, t + nthreads, ...: give each its slice
	// of a reordered copy.
	part *order = calloc((size_t)nparts, sizeof(*order));
	readers = calloc((size_t)nthreads, sizeof(*readers));
	if (order == NULL || readers == NULL) {
		free(order);
		fprintf(stderr, "rill-rawread: out of memory\n");
		goto out;
	}
	size_t k = 0;
	for (int t = 0; t < nthreads; t++) {
		reader *r = &readers[t];
		r->r_index = t;
		r->r_stride = nthreads;
		r->r_brokers = brokers;
		r->r_topic = topic;
		r->r_deadline = deadline;
		r->r_parts = &order[k];
		for (int p = t; p < nparts; p += nthreads) {
			order[k] = parts[p];
			order[k].pt_partition = p;
			k++;
			r->r_nparts++;
		}
	}
	free(parts);
	parts = order;
	int launched = 0;
	for (; launched < nthreads; launched++) {
		int e = pthread_create(
		    &readers[launched].r_thread, NULL, reader_main, &readers[launched]);
		if (e != 0) {
			fprintf(stderr, "rill-rawread: thread %d: %s\n", launched, strerror(e));
			break;
		}
	}
	uint64_t records = 0, bytes = 0, checksum = 0;
	double   finished = start;
	int      failed = 0;
	for (int t = 0; t < launched; t++) {
		reader *r = &readers[t];
		pthread_join(r->r_thread, NULL);
		if (!r->r_ok && failed++ < 5)
			fprintf(stderr, "rill-rawread: thread %d: %s\n", t,
			    r->r_why[0] ? r->r_why : "failed");
		bytes += r->r_bytes;
		checksum += r->r_checksum;
		if (r->r_finished > finished)
			finished = r->r_finished;
	}
	for (int i = 0; i < nparts; i++) {
		records += (uint64_t)parts[i].pt_records;
		counts[i] = parts[i].pt_records;
	}
	if (failed > 0 || launched < nthreads) {
		fprintf(stderr,
		    "rill-rawread: read %" PRIu64 " records of %s in %.3f s, not all (%d of %d "
		    "threads failed)\n",
		    records, topic, mono_s() - start, failed, launched);
		goto out;
	}
	qsort(counts, (size_t)nparts, sizeof(*counts), cmp_i64);
	printf("records=%" PRIu64 " bytes=%" PRIu64 " seconds=%.3f checksum=%" PRIu64
	       " partitions=%d threads=%d per_partition_min=%" PRId64
	       " per_partition_median=%" PRId64 " per_partition_max=%" PRId64 "\n",
	    records, bytes, finished - start, checksum, nparts, nthreads, counts[0],
	    counts[nparts / 2], counts[nparts - 1]);
	rv = 0;
out:
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	if (rkt != NULL)
		rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(meta);
	free(parts);
	free(readers);
	free(counts);
	return rv;
}
