# SPDX-License-Identifier: Apache-2.0
# deploy/lib/service.sh — the code deploy/kafka.sh and deploy/zookeeper.sh share
# to run one Java server per directory (logging, free ports, the pid file, the
# start options, the wait for startup, and the stop and status commands).
# shellcheck shell=bash
#
# Sourced, not run: the sourcing script keeps `set -euo pipefail` and sets, before
# sourcing this file,
#   PROG            program name for messages ("kafka.sh")
#   SVC_NAME        what the server is called in messages ("broker", "server")
#   SVC_PID_FILE    pid file name in DIR ("kafka.pid")
#   SVC_ADDR_FILE   file in DIR holding the address HOST:P ("bootstrap")
#   SVC_LOG         the server's own log file in DIR ("broker.log")
#   SVC_OUT         file in DIR taking the process's stdout and stderr ("kafka.out")
#   SVC_MAIN        Java main class; with SVC_CONF, how a pid is recognised
#   SVC_CONF        config file name in DIR, the main class's argument
#   SVC_POLL        seconds between checks while waiting for startup
#   START_TIMEOUT   seconds to wait for startup
#   STOP_TIMEOUT    seconds between SIGTERM and SIGKILL
# and defines service_ready PORT: true when the server on SVC_HOST:PORT serves.
# SVC_HOST, the IPv4 address the server listens on, is 127.0.0.1 unless start
# says --host (deploy/cluster.sh starts servers on a test host's address).

: "${PROG:?}" "${SVC_NAME:?}" "${SVC_PID_FILE:?}" "${SVC_ADDR_FILE:?}" "${SVC_LOG:?}" \
    "${SVC_OUT:?}" "${SVC_MAIN:?}" "${SVC_CONF:?}" "${SVC_POLL:?}" \
    "${START_TIMEOUT:?}" "${STOP_TIMEOUT:?}"
SVC_HOST=127.0.0.1

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "$*"; exit 1; }

need() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 ||
            die "'$cmd' not found; run deploy/deps.sh first"
    done
}

# ---------------------------------------------------------------- ports

# True when no TCP socket on this machine holds port $1 (listening or connected).
# TIME-WAIT leftovers do not count: both servers bind with SO_REUSEADDR, and a
# restarted server should get its old port back although its clients' connections
# linger.
port_free() {
    [[ -z "$(ss -Htan exclude time-wait "( sport = :$1 )" 2>/dev/null)" ]]
}

# Prints a free TCP port in 20000-60000, outside the kernel's ephemeral
# range when possible (so an outgoing connection cannot take it meanwhile), and
# different from the ports given as arguments.
free_port() {
    local lo=20000 hi=60000 eph_lo=32768 eph_hi=60999 p tries avoid ok
    if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
        read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range
    fi
    for ((tries = 0; tries < 500; tries++)); do
        p=$(( ((RANDOM << 15) | RANDOM) % (hi - lo + 1) + lo ))
        if ((tries < 400 && p >= eph_lo && p <= eph_hi)); then
            continue
        fi
        ok=1
        for avoid in "$@"; do
            [[ "$p" == "$avoid" ]] && ok=0
        done
        if ((ok)) && port_free "$p"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    die "no free TCP port found"
}

# ---------------------------------------------------------------- processes

# True while process $1 exists and is not a zombie (kill -0 succeeds on zombies,
# and a server this shell started stays one until waited for).
proc_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ "${stat:0:1}" != Z ]]
}

abs_dir() {
    mkdir -p "$1"
    (cd "$1" && pwd -P)
}

# Prints the pid of DIR's running server, or fails.
service_pid() {
    local dir=$1 pid
    [[ -f "$dir/$SVC_PID_FILE" ]] || return 1
    pid=$(<"$dir/$SVC_PID_FILE")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    # Guard against a recycled pid: it must run SVC_MAIN on this DIR's config.
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$SVC_MAIN $dir/$SVC_CONF" || return 1
    printf '%s\n' "$pid"
}

tail_logs() {
    local dir=$1 f
    for f in "$dir/$SVC_LOG" "$dir/$SVC_OUT"; do
        if [[ -s "$f" ]]; then
            log "---- last lines of $f"
            tail -n 40 "$f" >&2
        fi
    done
}

# ---------------------------------------------------------------- start

# True when $1 is a dotted IPv4 address with every byte in 0-255.
valid_ipv4() {
    local IFS=. b
    local -a bytes
    [[ "$1" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
    read -r -a bytes <<<"$1"
    for b in "${bytes[@]}"; do
        ((10#$b <= 255)) || return 1
    done
}

# Parses start's options --dir DIR, --port P, --host ADDR, --fresh and --set
# KEY=VALUE into START_DIR, START_PORT, SVC_HOST, START_FRESH (0/1) and the
# array START_EXTRA; dies on anything else, without --dir, or on a bad port or
# address.
# shellcheck disable=SC2034 # the START_ variables are read by the calling script
parse_start_args() {
    START_DIR="" START_PORT="" START_FRESH=0 START_EXTRA=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; START_DIR=$2; shift ;;
            --port) [[ $# -ge 2 ]] || die "--port needs a value"; START_PORT=$2; shift ;;
            --host)
                [[ $# -ge 2 ]] || die "--host needs a value"
                valid_ipv4 "$2" || die "bad --host: $2 (an IPv4 address, e.g. 10.231.7.1)"
                SVC_HOST=$2; shift ;;
            --fresh) START_FRESH=1 ;;
            --set)
                [[ $# -ge 2 && "$2" == *=* ]] || die "--set needs KEY=VALUE"
                START_EXTRA+=("$2"); shift ;;
            *) die "start: unknown argument: $1 (see --help)" ;;
        esac
        shift
    done
    [[ -n "$START_DIR" ]] || die "start needs --dir DIR"
    if [[ -n "$START_PORT" ]] &&
        ! [[ "$START_PORT" =~ ^[0-9]+$ && "$START_PORT" -ge 1 && "$START_PORT" -le 65535 ]]; then
        die "bad --port: $START_PORT"
    fi
}

# Runs the server command CMD... in the background in DIR (own session, output to
# DIR/SVC_OUT, pid in DIR/SVC_PID_FILE) and waits until service_ready PORT. Returns
# 0 when up, 1 when it failed, 2 when it died because a port was taken (so the
# caller may say which and retry with other ports).
service_launch() {
    local dir=$1 port=$2 pid deadline log_off
    shift 2
    : >"$dir/$SVC_OUT"
    log_off=$(stat -c %s "$dir/$SVC_LOG" 2>/dev/null || echo 0)
    (
        cd "$dir" || exit
        exec setsid nohup "$@" >>"$dir/$SVC_OUT" 2>&1 </dev/null
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$dir/$SVC_PID_FILE"

    deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! proc_alive "$pid"; then
            wait "$pid" 2>/dev/null || true
            rm -f "$dir/$SVC_PID_FILE"
            if { tail -c "+$((log_off + 1))" "$dir/$SVC_LOG" 2>/dev/null; cat "$dir/$SVC_OUT"; } |
                grep -q "Address already in use"; then
                return 2
            fi
            log "$SVC_NAME exited during startup"
            tail_logs "$dir"
            return 1
        fi
        if ! port_free "$port" && service_ready "$port"; then
            return 0
        fi
        sleep "$SVC_POLL"
    done
    log "$SVC_NAME did not answer on $SVC_HOST:$port within ${START_TIMEOUT}s"
    tail_logs "$dir"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/$SVC_PID_FILE"
    return 1
}

# Records and reports the server started in DIR on SVC_HOST:PORT: its address
# goes to DIR/SVC_ADDR_FILE and, as the only line, to stdout.
service_started() {
    local dir=$1 port=$2
    printf '%s:%s\n' "$SVC_HOST" "$port" >"$dir/$SVC_ADDR_FILE"
    log "$SVC_NAME up (pid $(<"$dir/$SVC_PID_FILE")), log in $dir/$SVC_LOG"
    printf '%s:%s\n' "$SVC_HOST" "$port"
}

# ---------------------------------------------------------------- stop, status

# Parses the only option of stop and status, --dir DIR, into the variable named $2
# (not cmd, var or value); $1 is the command's name for messages.
parse_dir_arg() {
    local cmd=$1 var=$2 value=""
    shift 2
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; value=$2; shift ;;
            *) die "$cmd: unknown argument: $1 (see --help)" ;;
        esac
        shift
    done
    [[ -n "$value" ]] || die "$cmd needs --dir DIR"
    printf -v "$var" '%s' "$value"
}

cmd_stop() {
    local dir
    parse_dir_arg stop dir "$@"
    [[ -d "$dir" ]] || { log "no directory $dir: nothing to stop"; return 0; }
    dir=$(abs_dir "$dir")
    local pid
    if ! pid=$(service_pid "$dir"); then
        rm -f "$dir/$SVC_PID_FILE"
        log "no $SVC_NAME running in $dir"
        return 0
    fi
    log "stopping $SVC_NAME $pid in $dir"
    kill -TERM "$pid" 2>/dev/null || true
    local tenths=$((STOP_TIMEOUT * 10))
    while ((tenths-- > 0)) && proc_alive "$pid"; do
        sleep 0.1
    done
    if proc_alive "$pid"; then
        log "$SVC_NAME $pid still running after ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while proc_alive "$pid"; do sleep 0.1; done
    fi
    rm -f "$dir/$SVC_PID_FILE"
    log "stopped"
}

cmd_status() {
    local dir
    parse_dir_arg status dir "$@"
    if [[ -d "$dir" ]] && dir=$(abs_dir "$dir") && service_pid "$dir" >/dev/null; then
        printf 'running %s\n' "$(<"$dir/$SVC_ADDR_FILE")"
        return 0
    fi
    printf 'stopped\n'
    return 1
}
