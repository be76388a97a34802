#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deploy/cluster.sh — several test hosts on one machine for rill's cluster tests:
# network namespaces with a veth pair each on one Linux bridge, each with its own
# address in a private /24 that only they (and the bridge) use, so a process runs
# "on a host", a host can be cut off (link down) or killed, and nothing is routed
# anywhere else. Needs root (CAP_NET_ADMIN) and iproute2.
#
# Only what a command is asked for (addresses, connect strings, pids, exit status)
# goes to stdout; everything else goes to stderr.
set -euo pipefail

PROG=${0##*/}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

STOP_TIMEOUT=${RILL_CLUSTER_STOP_TIMEOUT:-5}
LOCK_FILE=${RILL_CLUSTER_LOCK:-/run/lock/rill-cluster.lock}
MAX_HOSTS=64
# Default subnets: 10.231.Y.0/24, Y picked from DIR (or --name), the next free one
# if something on this machine already uses it.
DEFAULT_NET=10.231
BRIDGE_HOST=254 # the default namespace's address on the bridge: .254

usage() {
    cat <<EOF
Usage:
  $PROG up --dir DIR [--hosts N] [--subnet A.B.C.0/24] [--name NAME]
  $PROG down --dir DIR
  $PROG exec --dir DIR HOST -- CMD [ARG]...
  $PROG spawn --dir DIR HOST --name NAME -- CMD [ARG]...
  $PROG wait --dir DIR HOST --name NAME [--timeout SECONDS]
  $PROG kill --dir DIR HOST [--signal SIG]
  $PROG cut --dir DIR HOST
  $PROG heal --dir DIR HOST
  $PROG address --dir DIR HOST
  $PROG zookeeper --dir DIR HOST [-- START-OPTION...]
  $PROG kafka --dir DIR HOST [-- START-OPTION...]
  $PROG status --dir DIR
  $PROG --help

Test hosts on this machine: network namespaces on a bridge, one address each in a
private /24, state and logs under DIR. Run as root. HOST is a name from DIR/hosts
(host1, host2, ...) or its number.

  up         create the bridge, N hosts (default 3, at most $MAX_HOSTS) with loopback up
             and a veth pair on the bridge, and write DIR/hosts ("NAME ADDRESS" a
             line). Host i gets A.B.C.i, this (the default) namespace A.B.C.$BRIDGE_HOST
             on the bridge, so tests reach every host. No default route, no NAT:
             traffic stays on the bridge or on a host's loopback. The subnet is
             --subnet (a private /24 nothing here uses yet), else the first free
             $DEFAULT_NET.Y.0/24 from a Y derived from DIR. Kernel names start with
             rl + NAME (--name, [a-z0-9]{1,8}, else 6 hex digits of DIR's hash),
             so runs in other directories cannot clash. A failed up undoes itself.
  down       kill every process in the hosts (SIGTERM, SIGKILL after
             ${STOP_TIMEOUT}s), delete the namespaces, veths and bridge; DIR (logs)
             stays. Fine to run twice, after a partial up, or on a DIR without a
             cluster.
  exec       run CMD inside HOST in the foreground; exits with CMD's status
  spawn      run CMD inside HOST in the background, in its own session: pid in
             DIR/HOST/NAME.pid (printed), stdout and stderr in DIR/HOST/NAME.log
             (emptied first), exit status in DIR/HOST/NAME.status once it ends
             (unless it was killed with its host's every process, by SIGKILL)
  wait       wait until NAME (spawned in HOST) ends, at most --timeout seconds
             (default: forever); prints its exit status and exits with it (124
             on timeout, 125 when it was killed and left none)
  kill       send SIG (default KILL: the host dies) to every process in HOST —
             whatever spawn, exec, zookeeper or kafka started there; with KILL,
             waits until they are gone
  cut        take HOST's link down (its bridge-side veth): packets to and from it
             are dropped, its sockets stay open, as in a network partition
  heal       bring HOST's link up again; returns when its bridge port forwards,
             with what its neighbours learnt during the cut (failed ARP) forgotten
  address    print HOST's address
  zookeeper  start Debian's ZooKeeper inside HOST on HOST's address (deploy/zookeeper.sh,
             DIR/HOST/zookeeper); prints its connect string ADDRESS:PORT
  kafka      start the pinned Kafka broker inside HOST on HOST's address
             (deploy/kafka.sh, DIR/HOST/kafka); prints its bootstrap ADDRESS:PORT.
             Stop it with kill, or with deploy/kafka.sh stop --dir DIR/HOST/kafka
  status     print each host's address, link state and processes

Environment: RILL_CLUSTER_STOP_TIMEOUT (${STOP_TIMEOUT}), RILL_CLUSTER_LOCK
(${LOCK_FILE}: serialises the choice of subnets between concurrent ups).
EOF
}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "$*"; exit 1; }

need() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 ||
            die "'$cmd' not found; run deploy/deps.sh first"
    done
}

need_root() {
    [[ $(id -u) -eq 0 ]] ||
        die "$1 needs root (network namespaces need CAP_NET_ADMIN); run it with sudo"
}

# ---------------------------------------------------------------- addresses

ip4_to_int() {
    local IFS=. a b c d
    read -r a b c d <<<"$1"
    printf '%s\n' $(((10#$a << 24) | (10#$b << 16) | (10#$c << 8) | 10#$d))
}

valid_ipv4() {
    local IFS=. b
    local -a bytes
    [[ "$1" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
    read -r -a bytes <<<"$1"
    for b in "${bytes[@]}"; do
        ((10#$b <= 255)) || return 1
    done
}

# True when the /24 at $1 (A.B.C.0) is inside 10/8, 172.16/12 or 192.168/16.
private_net() {
    local n
    n=$(ip4_to_int "$1")
    (((n >> 24) == 10 || (n >> 20) == (172 << 4 | 1) || (n >> 16) == (192 << 8 | 168)))
}

# True when something in this namespace (an address or a route, other than a
# default route) overlaps the /24 at $1.
net_in_use() {
    local net lo hi pfx addr len plo phi
    net=$(ip4_to_int "$1")
    lo=$net hi=$((net + 255))
    while read -r pfx; do
        [[ "$pfx" == default || -z "$pfx" ]] && continue
        addr=${pfx%/*}
        len=32
        [[ "$pfx" == */* ]] && len=${pfx#*/}
        valid_ipv4 "$addr" || continue
        plo=$(ip4_to_int "$addr")
        plo=$((plo & ~((1 << (32 - len)) - 1) & 0xffffffff))
        phi=$((plo + (1 << (32 - len)) - 1))
        ((plo <= hi && phi >= lo)) && return 0
    done < <({ ip -4 route show table all | awk '{ print ($1 == "broadcast" || $1 == "local") ? $2 : $1 }'
               ip -4 -o addr show | awk '{ print $4 }'; } 2>/dev/null)
    return 1
}

# ---------------------------------------------------------------- state

# DIR/cluster holds what down needs even after a partial up: NAME, SUBNET
# (A.B.C), HOSTS. Loads it into C_NAME, C_NET, C_HOSTS and the derived names.
load_state() {
    local dir=$1 key value
    C_NAME="" C_NET="" C_HOSTS=""
    [[ -f "$dir/cluster" ]] || return 1
    while IFS='=' read -r key value; do
        case "$key" in
            name) C_NAME=$value ;;
            subnet) C_NET=$value ;;
            hosts) C_HOSTS=$value ;;
        esac
    done <"$dir/cluster"
    [[ "$C_NAME" =~ ^[a-z0-9]{1,8}$ && "$C_HOSTS" =~ ^[0-9]+$ ]] ||
        die "$dir/cluster is damaged (name=$C_NAME hosts=$C_HOSTS)"
    C_BRIDGE=rl${C_NAME}br
}

ns_of() { printf 'rl%s-h%s\n' "$C_NAME" "$1"; }   # host i's namespace
veth_of() { printf 'rl%sh%s\n' "$C_NAME" "$1"; }   # host i's bridge-side veth

link_exists() { ip link show dev "$1" >/dev/null 2>&1; }
ns_exists() { [[ -e "/run/netns/$1" ]]; }

# Parses --dir DIR into DIR (absolute); the rest of the arguments go to ARGS.
parse_dir() {
    DIR="" ARGS=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; DIR=$2; shift ;;
            --) ARGS+=("$@"); break ;;
            *) ARGS+=("$1") ;;
        esac
        shift
    done
    [[ -n "$DIR" ]] || die "$CMD needs --dir DIR (see --help)"
    if [[ -d "$DIR" ]]; then
        DIR=$(cd "$DIR" && pwd -P)
    fi
}

# Loads DIR's state or dies.
need_cluster() {
    [[ -d "$DIR" ]] && load_state "$DIR" || die "no cluster in $DIR (run: $PROG up --dir $DIR)"
}

# Resolves HOST (host3 or 3) into H (its number), H_NAME, H_NS, H_VETH, H_ADDR.
resolve_host() {
    local host=$1
    [[ -n "$host" ]] || die "$CMD needs a HOST (see --help)"
    if [[ "$host" =~ ^[0-9]+$ ]]; then
        H=$((10#$host))
    elif [[ "$host" =~ ^host([0-9]+)$ ]]; then
        H=$((10#${BASH_REMATCH[1]}))
    else
        die "no host '$host': hosts are host1..host$C_HOSTS (or their numbers)"
    fi
    ((H >= 1 && H <= C_HOSTS)) || die "no host '$host': hosts are host1..host$C_HOSTS"
    H_NAME=host$H
    H_NS=$(ns_of "$H")
    H_VETH=$(veth_of "$H")
    H_ADDR=$C_NET.$H
    ns_exists "$H_NS" || die "$H_NAME's namespace $H_NS does not exist (is the cluster up?)"
}

# ---------------------------------------------------------------- up, down

cmd_up() {
    local hosts=3 subnet="" name=""
    parse_dir "$@"
    set -- "${ARGS[@]}"
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --hosts) [[ $# -ge 2 ]] || die "--hosts needs a value"; hosts=$2; shift ;;
            --subnet) [[ $# -ge 2 ]] || die "--subnet needs a value"; subnet=$2; shift ;;
            --name) [[ $# -ge 2 ]] || die "--name needs a value"; name=$2; shift ;;
            *) die "up: unknown argument: $1 (see --help)" ;;
        esac
        shift
    done
    [[ "$hosts" =~ ^[0-9]+$ ]] && ((hosts >= 1 && hosts <= MAX_HOSTS)) ||
        die "bad --hosts: $hosts (1 to $MAX_HOSTS)"
    if [[ -n "$subnet" ]]; then
        [[ "$subnet" =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.0/24$ ]] || die "bad --subnet: $subnet (A.B.C.0/24)"
        local abc=${BASH_REMATCH[1]}
        valid_ipv4 "$abc.0" || die "bad --subnet: $subnet (A.B.C.0/24)"
        private_net "$abc.0" || die "--subnet $subnet is not private (10/8, 172.16/12, 192.168/16)"
        subnet=$abc
    fi
    [[ -z "$name" || "$name" =~ ^[a-z0-9]{1,8}$ ]] || die "bad --name: $name ([a-z0-9]{1,8})"
    need_root up
    need ip flock sha1sum
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd -P)
    if load_state "$DIR" 2>/dev/null && link_exists "$C_BRIDGE"; then
        die "$DIR already has a cluster up (bridge $C_BRIDGE); run: $PROG down --dir $DIR"
    fi
    local hash
    hash=$(printf '%s' "$DIR" | sha1sum)
    [[ -n "$name" ]] || name=${hash:0:6}

    # Choose the subnet and create the bridge with its address under one lock,
    # so that a concurrent up sees this one's route.
    local lock_fd
    mkdir -p "$(dirname "$LOCK_FILE")"
    exec {lock_fd}>"$LOCK_FILE"
    flock "$lock_fd"
    link_exists "rl${name}br" &&
        die "bridge rl${name}br exists already: another cluster uses the name $name (--name)"
    if [[ -n "$subnet" ]]; then
        ! net_in_use "$subnet.0" || die "--subnet $subnet.0/24 overlaps an address or route here"
    else
        local y0=$((16#${hash:6:2})) k y
        for ((k = 0; k < 256; k++)); do
            y=$(((y0 + k) % 256))
            if ! net_in_use "$DEFAULT_NET.$y.0"; then
                subnet=$DEFAULT_NET.$y
                break
            fi
        done
        [[ -n "$subnet" ]] || die "every $DEFAULT_NET.Y.0/24 is in use here; give --subnet"
    fi
    printf 'name=%s\nsubnet=%s\nhosts=%s\n' "$name" "$subnet" "$hosts" >"$DIR/cluster"
    load_state "$DIR"
    rm -f "$DIR/hosts"

    # From here on a failure (a failed command, or die) undoes what was made.
    UP_DONE=0
    trap 'if ((UP_DONE == 0)); then log "up failed; tearing down what was made"; do_down || true; fi' EXIT
    ip link add "$C_BRIDGE" type bridge
    ip addr add "$C_NET.$BRIDGE_HOST/24" dev "$C_BRIDGE"
    ip link set "$C_BRIDGE" up
    exec {lock_fd}>&-

    local i ns veth
    for ((i = 1; i <= hosts; i++)); do
        ns=$(ns_of "$i")
        veth=$(veth_of "$i")
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # The host's end is created inside the namespace, named eth0 there.
        ip link add "$veth" type veth peer name eth0 netns "$ns"
        ip link set "$veth" master "$C_BRIDGE"
        ip link set "$veth" up
        ip -n "$ns" addr add "$C_NET.$i/24" dev eth0
        ip -n "$ns" link set eth0 up
        # Only the connected /24: no default route, nothing leaves the bridge.
        [[ -z "$(ip -n "$ns" -4 route show default)" ]] || die "$ns has a default route"
        printf 'host%s %s\n' "$i" "$C_NET.$i" >>"$DIR/hosts"
        mkdir -p "$DIR/host$i"
    done
    UP_DONE=1
    log "up: $hosts hosts on $C_BRIDGE ($C_NET.0/24, this namespace $C_NET.$BRIDGE_HOST); see $DIR/hosts"
}

# Sends signal $2 to every process in namespace $1; prints how many there were.
signal_ns() {
    local ns=$1 sig=$2 pids
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)
    if [[ -n "${pids// /}" ]]; then
        # shellcheck disable=SC2086 # a list of pids
        kill -s "$sig" $pids 2>/dev/null || true
    fi
    printf '%s\n' "$(wc -w <<<"$pids")"
}

# Waits up to $2 tenths of a second until namespace $1 holds no process.
wait_ns_empty() {
    local ns=$1 tenths=$2
    while ((tenths-- > 0)); do
        [[ -z "$(ip netns pids "$ns" 2>/dev/null)" ]] && return 0
        sleep 0.1
    done
    [[ -z "$(ip netns pids "$ns" 2>/dev/null)" ]]
}

# Kills every process in every host, then deletes veths, namespaces and the
# bridge: whatever of them exists. Uses the loaded state.
do_down() {
    local i ns veth n left=0
    # SIGTERM everywhere first, so every host gets the same grace period.
    for ((i = 1; i <= C_HOSTS; i++)); do
        ns=$(ns_of "$i")
        ns_exists "$ns" || continue
        n=$(signal_ns "$ns" TERM)
        ((n == 0)) || log "host$i: SIGTERM to $n processes"
    done
    for ((i = 1; i <= C_HOSTS; i++)); do
        ns=$(ns_of "$i")
        ns_exists "$ns" || continue
        if ! wait_ns_empty "$ns" $((STOP_TIMEOUT * 10)); then
            n=$(signal_ns "$ns" KILL)
            log "host$i: SIGKILL to $n processes still running after ${STOP_TIMEOUT}s"
            wait_ns_empty "$ns" 100 || { log "host$i: processes survive SIGKILL"; left=1; }
        fi
    done
    for ((i = 1; i <= C_HOSTS; i++)); do
        ns=$(ns_of "$i")
        veth=$(veth_of "$i")
        if link_exists "$veth" && ! ip link del "$veth" 2>/dev/null && link_exists "$veth"; then
            log "cannot delete $veth"
        fi
        if ns_exists "$ns"; then
            ip netns del "$ns" || { log "cannot delete namespace $ns"; left=1; }
        fi
    done
    if link_exists "$C_BRIDGE"; then
        ip link del "$C_BRIDGE" || { log "cannot delete bridge $C_BRIDGE"; left=1; }
    fi
    # Deleting a namespace frees its devices asynchronously; make sure the veths go.
    local tenths=50
    for ((i = 1; i <= C_HOSTS; i++)); do
        veth=$(veth_of "$i")
        while link_exists "$veth" && ((tenths-- > 0)); do sleep 0.1; done
        link_exists "$veth" && { log "$veth is still there"; left=1; }
    done
    return "$left"
}

cmd_down() {
    parse_dir "$@"
    [[ ${#ARGS[@]} -eq 0 ]] || die "down: unknown argument: ${ARGS[0]} (see --help)"
    if [[ ! -d "$DIR" ]] || ! load_state "$DIR"; then
        log "no cluster in $DIR: nothing to take down"
        return 0
    fi
    need_root down
    need ip
    do_down || die "down: something was left (see above)"
    rm -f "$DIR"/host*/*.pid
    log "down: $C_HOSTS hosts and $C_BRIDGE removed (logs stay in $DIR)"
}

# ---------------------------------------------------------------- processes

# Parses "HOST [opts...] -- CMD..." for exec, spawn, kill...: the host into the
# H_ variables, options before -- into OPTS, the command into CMDV.
parse_host_cmd() {
    OPTS=() CMDV=()
    local host=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --) shift; CMDV=("$@"); break ;;
            --name|--signal|--timeout)
                [[ $# -ge 2 ]] || die "$1 needs a value"
                OPTS+=("$1" "$2"); shift ;;
            -*) OPTS+=("$1") ;;
            *) [[ -z "$host" ]] || die "$CMD: unexpected argument: $1 (see --help)"
               host=$1 ;;
        esac
        shift
    done
    need_cluster
    resolve_host "$host"
}

cmd_exec() {
    parse_dir "$@"
    parse_host_cmd "${ARGS[@]}"
    [[ ${#OPTS[@]} -eq 0 ]] || die "exec: unknown argument: ${OPTS[0]} (see --help)"
    [[ ${#CMDV[@]} -gt 0 ]] || die "exec needs -- CMD"
    need_root exec
    exec ip netns exec "$H_NS" "${CMDV[@]}"
}

# True while process $1 exists and is not a zombie.
proc_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ "${stat:0:1}" != Z ]]
}

# Parses --name NAME (and, for wait, --timeout S) from OPTS into NAME, TIMEOUT.
parse_name() {
    NAME="" TIMEOUT=""
    set -- "${OPTS[@]}"
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --name) [[ $# -ge 2 ]] || die "--name needs a value"; NAME=$2; shift ;;
            --timeout)
                [[ "$CMD" == wait && $# -ge 2 ]] || die "$CMD: unknown argument: $1"
                TIMEOUT=$2; shift ;;
            *) die "$CMD: unknown argument: $1 (see --help)" ;;
        esac
        shift
    done
    [[ "$NAME" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ||
        die "$CMD needs --name NAME (letters, digits, . _ -)"
    [[ -z "$TIMEOUT" || "$TIMEOUT" =~ ^[0-9]+$ ]] || die "bad --timeout: $TIMEOUT (seconds)"
}

cmd_spawn() {
    parse_dir "$@"
    parse_host_cmd "${ARGS[@]}"
    parse_name
    [[ ${#CMDV[@]} -gt 0 ]] || die "spawn needs -- CMD"
    need_root spawn
    need setsid
    local base=$DIR/$H_NAME/$NAME pid
    mkdir -p "$DIR/$H_NAME"
    if [[ -f "$base.pid" ]] && pid=$(<"$base.pid") && proc_alive "$pid"; then
        die "$NAME already runs in $H_NAME (pid $pid)"
    fi
    rm -f "$base.pid" "$base.status"
    : >"$base.log"
    # A wrapper shell in the host starts CMD as a job of its own (set -m: in its
    # own process group, SIGINT not ignored; set +m again so that no "Done" line
    # lands in the log), records its pid, waits for it and records its exit
    # status. The wrapper ignores SIGTERM and SIGINT (after the fork, so CMD does
    # not), so `kill --signal TERM` still leaves a status.
    # shellcheck disable=SC2016 # expanded by the wrapper
    (
        exec setsid ip netns exec "$H_NS" bash -c '
            base=$1; shift
            set -m
            "$@" </dev/null &
            pid=$!
            set +m
            printf "%s\n" "$pid" >"$base.pid.tmp" && mv "$base.pid.tmp" "$base.pid"
            trap "" TERM INT HUP
            wait "$pid"
            rv=$?
            printf "%s\n" "$rv" >"$base.status.tmp" && mv "$base.status.tmp" "$base.status"
        ' _ "$base" "${CMDV[@]}" >>"$base.log" 2>&1 </dev/null
    ) &
    local tenths=100
    while [[ ! -f "$base.pid" ]] && ((tenths-- > 0)); do sleep 0.02; done
    [[ -f "$base.pid" ]] || die "spawn: $NAME did not start in $H_NAME (see $base.log)"
    log "$NAME spawned in $H_NAME (pid $(<"$base.pid")), log in $base.log"
    cat "$base.pid"
}

cmd_wait() {
    parse_dir "$@"
    parse_host_cmd "${ARGS[@]}"
    parse_name
    [[ ${#CMDV[@]} -eq 0 ]] || die "wait takes no command"
    local base=$DIR/$H_NAME/$NAME pid start=$SECONDS
    [[ -f "$base.pid" || -f "$base.status" ]] || die "nothing named $NAME was spawned in $H_NAME"
    pid=$(cat "$base.pid" 2>/dev/null || true)
    while [[ ! -f "$base.status" ]]; do
        if [[ -n "$pid" ]] && ! proc_alive "$pid"; then
            # The wrapper writes the status right after; give it a moment.
            sleep 0.2
            [[ -f "$base.status" ]] && break
            log "$NAME in $H_NAME ended without a status (killed with its host?)"
            printf '125\n'
            return 125
        fi
        if [[ -n "$TIMEOUT" ]] && ((SECONDS - start >= TIMEOUT)); then
            log "$NAME in $H_NAME still runs after ${TIMEOUT}s"
            printf '124\n'
            return 124
        fi
        sleep 0.1
    done
    local rv
    rv=$(<"$base.status")
    printf '%s\n' "$rv"
    return "$rv"
}

cmd_kill() {
    parse_dir "$@"
    parse_host_cmd "${ARGS[@]}"
    local sig=KILL
    set -- "${OPTS[@]}"
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --signal) [[ $# -ge 2 ]] || die "--signal needs a value"; sig=${2#SIG}; shift ;;
            *) die "kill: unknown argument: $1 (see --help)" ;;
        esac
        shift
    done
    [[ ${#CMDV[@]} -eq 0 ]] || die "kill takes no command"
    kill -l "$sig" >/dev/null 2>&1 || die "bad --signal: $sig"
    need_root kill
    local n
    n=$(signal_ns "$H_NS" "$sig")
    log "$H_NAME: SIG$sig to $n processes"
    if [[ "$sig" == KILL || "$sig" == 9 ]]; then
        wait_ns_empty "$H_NS" 100 || die "$H_NAME: processes survive SIGKILL"
    fi
}

set_link() {
    local state=$1
    parse_dir "${@:2}"
    parse_host_cmd "${ARGS[@]}"
    [[ ${#OPTS[@]} -eq 0 && ${#CMDV[@]} -eq 0 ]] || die "$CMD takes only --dir DIR HOST"
    need_root "$CMD"
    ip link set "$H_VETH" "$state"
    if [[ "$state" == up ]]; then
        # Back when its bridge port forwards again and nobody remembers what
        # the cut taught: a neighbour entry that failed (or is still failing)
        # during the cut answers "No route to host" for a while after it.
        local tenths=50 i
        until bridge link show dev "$H_VETH" 2>/dev/null | grep -q 'state forwarding'; do
            ((tenths-- > 0)) || die "$H_NAME: bridge port $H_VETH does not forward"
            sleep 0.1
        done
        ip -n "$H_NS" neigh flush dev eth0 >/dev/null 2>&1 || true
        ip neigh flush to "$H_ADDR" >/dev/null 2>&1 || true
        for ((i = 1; i <= C_HOSTS; i++)); do
            ((i != H)) && ns_exists "$(ns_of "$i")" &&
                ip -n "$(ns_of "$i")" neigh flush to "$H_ADDR" >/dev/null 2>&1 || true
        done
    fi
    log "$H_NAME ($H_ADDR): link $state"
}

cmd_address() {
    parse_dir "$@"
    parse_host_cmd "${ARGS[@]}"
    [[ ${#OPTS[@]} -eq 0 && ${#CMDV[@]} -eq 0 ]] || die "address takes only --dir DIR HOST"
    printf '%s\n' "$H_ADDR"
}

# Starts deploy/$1.sh's server inside HOST on HOST's address.
cmd_service() {
    local script=$1
    parse_dir "${@:2}"
    parse_host_cmd "${ARGS[@]}"
    [[ ${#OPTS[@]} -eq 0 ]] || die "$CMD: unknown argument: ${OPTS[0]} (see --help)"
    need_root "$CMD"
    mkdir -p "$DIR/$H_NAME/$script"
    ip netns exec "$H_NS" "$HERE/$script.sh" start --dir "$DIR/$H_NAME/$script" \
        --host "$H_ADDR" "${CMDV[@]}"
}

cmd_status() {
    parse_dir "$@"
    [[ ${#ARGS[@]} -eq 0 ]] || die "status: unknown argument: ${ARGS[0]} (see --help)"
    need_cluster
    local i ns veth link pids
    printf 'bridge %s %s.%s/24 %s\n' "$C_BRIDGE" "$C_NET" "$BRIDGE_HOST" \
        "$(link_exists "$C_BRIDGE" && echo present || echo absent)"
    for ((i = 1; i <= C_HOSTS; i++)); do
        ns=$(ns_of "$i")
        veth=$(veth_of "$i")
        link=absent
        if link_exists "$veth"; then
            ip link show dev "$veth" | grep -q ',UP[,>]' && link=up || link=cut
        fi
        pids=""
        ns_exists "$ns" && pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        printf 'host%s %s.%s ns=%s link=%s pids=%s\n' "$i" "$C_NET" "$i" \
            "$(ns_exists "$ns" && echo "$ns" || echo absent)" "$link" "${pids% }"
    done
}

main() {
    [[ $# -ge 1 ]] || { usage >&2; exit 2; }
    CMD=$1
    shift
    case "$CMD" in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        exec) cmd_exec "$@" ;;
        spawn) cmd_spawn "$@" ;;
        wait) cmd_wait "$@" ;;
        kill) cmd_kill "$@" ;;
        cut) set_link down "$@" ;;
        heal) set_link up "$@" ;;
        address) cmd_address "$@" ;;
        zookeeper) cmd_service zookeeper "$@" ;;
        kafka) cmd_service kafka "$@" ;;
        status) cmd_status "$@" ;;
        -h|--help|help) usage ;;
        *) log "unknown command: $CMD"; usage >&2; exit 2 ;;
    esac
}

main "$@"
