// SPDX-License-Identifier: Apache-2.0
// One job's leader election in ZooKeeper: candidates in line, the leader's
// epoch and its lease (docs/architecture.md, "Election and leases").
#ifndef RL_ELECTION_H
#define RL_ELECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/zk.h"

typedef struct rl_election rl_election;

typedef struct rl_election_config {
	const char *job; // the job's name: /rill/jobs/<job>/…
	const char *url; // this driver's listen URL, stored in its nodes
	const char *http; // its HTTP address, or NULL
	// The lease: the leader is in charge while connected and heard from
	// ZooKeeper within lease_ms. 0 is 2/3 of the granted session timeout; it
	// must be less than the session timeout.
	int lease_ms;
} rl_election_config;

typedef enum rl_election_event_type {
	RL_ELECTION_NONE = 0,
	RL_ELECTION_STANDBY, // in line behind another candidate (reported once per spell)
	RL_ELECTION_ELECTED, // leader now, with a new epoch (higher than every earlier one)
	RL_ELECTION_LOST, // the leader is no longer in charge: stop acting now
	RL_ELECTION_EXPIRED, // the session expired: this election is over (join again on a new
	                     // session)
} rl_election_event_type;

typedef struct rl_election_event {
	rl_election_event_type type;
	int64_t                epoch; // ELECTED: the new epoch; LOST: the epoch lost
} rl_election_event;

// rl_election_join puts this driver in line for job: an ephemeral sequential
// node /rill/jobs/<job>/election/n_ holding url and http. It does not wait to
// lead: rl_election_poll reports how it goes. zk stays the caller's and must
// outlive the election. Errors: RL_ERR_INVAL for a job name that is empty or
// has a '/', or a lease not below the session timeout; ZooKeeper's errors.
// @locality the host thread (every rl_election_* call on one election must
// come from one thread at a time)
rl_err rl_election_join(
    rl_zk *zk, const rl_election_config *config, rl_election **ret, char *errbuf, size_t errlen);

// rl_election_poll drives the election and returns its next event, waiting up
// to timeout_ms (0: do not wait); RL_ERR_TIMEDOUT (ret->type NONE) when
// nothing happened. Watches each candidate's predecessor only; the candidate
// first in line bumps the epoch (the version of /rill/jobs/<job>/epoch, in a
// multi-op that checks its own node) and writes the ephemeral
// /rill/jobs/<job>/leader ("url=…\nhttp=…\nepoch=…\n") in the same multi-op,
// then reports ELECTED. A leader whose lease lapses reports LOST when the
// lease ends (a timer, not the expiry event), and ELECTED with a new epoch
// when the lease is back and it is still first in line. Transient ZooKeeper
// errors are retried on later polls. @locality the host thread
rl_err rl_election_poll(rl_election *e, int timeout_ms, rl_election_event *ret);

// rl_election_in_charge tells whether this driver leads with a valid lease at
// this instant; check it before each act of leadership (fenced writes still
// check the epoch, since a pause can come after the check).
// @locality the host thread
bool rl_election_in_charge(rl_election *e);

// rl_election_epoch is the epoch of the latest ELECTED (0 before any).
int64_t rl_election_epoch(const rl_election *e);

// rl_election_fence is the multi-op check that fences a write by this
// leader's epoch (the epoch node's version); prepend it to a batch-log write.
// Its path lives as long as e.
rl_zk_op rl_election_fence(const rl_election *e);

// rl_election_node is this candidate's node ("/rill/jobs/<job>/election/n_…",
// NULL before it exists); rl_election_watching the node it watches (its
// predecessor in line, NULL unless standing by). Both live until the next poll.
const char *rl_election_node(const rl_election *e);
const char *rl_election_watching(const rl_election *e);

// rl_election_resign leaves the line: deletes this candidate's node (and the
// leader node, fenced by its epoch, if it leads) so the next one leads at
// once. No event follows; the election is over. @locality the host thread
rl_err rl_election_resign(rl_election *e, char *errbuf, size_t errlen);

// rl_election_destroy frees e without touching ZooKeeper (its node goes with
// the session). rl_election_destroy(NULL) is a no-op.
void rl_election_destroy(rl_election *e);

// Who leads a job, read from ZooKeeper by anyone.
typedef struct rl_election_view {
	char   *leader_url; // from /rill/jobs/<job>/leader; NULL when none leads
	char   *leader_http; // NULL when none or not given
	int64_t leader_epoch; // the leader's epoch (0 when none leads)
	int64_t epoch; // the epoch node's version (0: nobody led yet)
	char  **standby_urls; // the candidates behind the first in line, in order
	size_t  standby_count;
} rl_election_view;

// rl_election_query reads job's leader, epoch and stand-bys into *ret (free
// with rl_election_view_fini). A job nobody joined gives an empty view.
rl_err rl_election_query(
    rl_zk *zk, const char *job, rl_election_view *ret, char *errbuf, size_t errlen);
void rl_election_view_fini(rl_election_view *view);

#endif
