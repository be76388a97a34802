#!/usr/bin/env bash
# deploy/kafka.sh — installs and runs a real Apache Kafka broker for rill's tests,
# without Docker: the broker's jars come from Maven Central (fetched with mvn into a
# cache), and each broker is a single-node KRaft broker+controller on loopback (or
# on the address --host names) with its config, data, pid and log in one directory
# of the caller's choosing.
#
# Only the bootstrap address (start), the lib directory (install) or a status line
# (status) go to stdout; everything else goes to stderr.
set -euo pipefail

# Pinned versions. Kafka 4.x is ruled out: it removed protocol versions that
# librdkafka 2.0.x (Debian bookworm's) still uses.
KAFKA_VERSION=${KAFKA_VERSION:-3.9.1}
SCALA_VERSION=2.13
SLF4J_VERSION=1.7.36          # the slf4j-api that kafka_2.13 3.9.x depends on
RELOAD4J_VERSION=1.2.25       # log4j 1.x API, as in Kafka 3.9's own distribution

CACHE_ROOT=${RILL_CACHE:-$HOME/.cache/rill}
KAFKA_HOME=$CACHE_ROOT/kafka-$KAFKA_VERSION
KAFKA_LIB=$KAFKA_HOME/lib
KAFKA_MARKER=$KAFKA_HOME/.complete

START_TIMEOUT=${RILL_KAFKA_START_TIMEOUT:-60}
STOP_TIMEOUT=${RILL_KAFKA_STOP_TIMEOUT:-20}
TOPIC_TIMEOUT=${RILL_KAFKA_TOPIC_TIMEOUT:-30}
HEAP_OPTS=${RILL_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
LOG_LEVEL=${RILL_KAFKA_LOG_LEVEL:-INFO}

PROG=${0##*/}

# What deploy/lib/service.sh needs to know about this server.
SVC_NAME=broker
SVC_PID_FILE=kafka.pid
SVC_ADDR_FILE=bootstrap
SVC_LOG=broker.log
SVC_OUT=kafka.out
SVC_MAIN=kafka.Kafka
SVC_CONF=server.properties
SVC_POLL=0.2
# shellcheck source-path=SCRIPTDIR source=lib/service.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/service.sh"
# shellcheck source-path=SCRIPTDIR source=lib/maven.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/maven.sh"

usage() {
    cat <<EOF
Usage:
  $PROG install
  $PROG start --dir DIR [--port P] [--host ADDR] [--fresh] [--set KEY=VALUE]...
  $PROG create-topic --dir DIR NAME PARTITIONS [--config KEY=VALUE]...
  $PROG stop --dir DIR
  $PROG status --dir DIR
  $PROG run CLASS [ARG]...
  $PROG --help

Installs and runs Apache Kafka $KAFKA_VERSION (Scala $SCALA_VERSION) from Maven Central's
jars: a single-node KRaft broker+controller on 127.0.0.1 (or --host), everything under DIR.

  install       fetch the broker's jars (once) into
                \$RILL_CACHE/kafka-\$KAFKA_VERSION/lib (RILL_CACHE defaults to
                ~/.cache/rill); prints the lib directory
  start         install if needed, write DIR/server.properties and DIR/log4j.properties,
                format DIR/data (only if not formatted yet, or always with --fresh),
                start the broker in the background (pid in DIR/kafka.pid, log in
                DIR/broker.log) and wait until it answers; prints the bootstrap
                address 127.0.0.1:P as the only stdout line, also kept in DIR/bootstrap.
                P is --port, else the port DIR's last broker used if still free, else
                a free port. --host ADDR listens (broker and controller) and
                advertises on the IPv4 address ADDR instead of 127.0.0.1, e.g. a
                test host of deploy/cluster.sh. --set appends a broker config line.
                If DIR's broker is already running, prints its bootstrap.
  create-topic  create topic NAME with PARTITIONS partitions, replication 1, on
                DIR's broker (Kafka's TopicCommand) and wait until every partition
                has a leader
  stop          SIGTERM the broker, SIGKILL after ${STOP_TIMEOUT}s; fine if not running
  status        print "running BOOTSTRAP" (exit 0) or "stopped" (exit 1)
  run           run a Kafka class (e.g. org.apache.kafka.tools.consumer.group.ConsumerGroupCommand)
                with the broker's classpath; logs WARN and up to stderr

Environment: KAFKA_VERSION, RILL_CACHE, RILL_KAFKA_START_TIMEOUT (${START_TIMEOUT}),
RILL_KAFKA_STOP_TIMEOUT (${STOP_TIMEOUT}), RILL_KAFKA_TOPIC_TIMEOUT (${TOPIC_TIMEOUT}),
RILL_KAFKA_HEAP_OPTS ("${HEAP_OPTS}"), RILL_KAFKA_LOG_LEVEL (${LOG_LEVEL}).
EOF
}

# ---------------------------------------------------------------- install

write_pom() {
    maven_pom "$1" kafka-broker-jars "the jars of an Apache Kafka broker (deploy/kafka.sh)" <<EOF
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
      <exclusions>
        <!-- ZooKeeper's client drags in logback; we log through reload4j. -->
        <exclusion><groupId>ch.qos.logback</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <!-- TopicCommand, ConsumerGroupCommand and the other command-line tools. -->
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>${KAFKA_VERSION}</version>
      <exclusions>
        <!-- Kafka Connect's runtime (Jetty, Jersey, ...) is not needed by the tools we use. -->
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
        <exclusion><groupId>com.fasterxml.jackson.jaxrs</groupId><artifactId>*</artifactId></exclusion>
        <exclusion><groupId>ch.qos.logback</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-storage</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>${SLF4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>ch.qos.reload4j</groupId>
      <artifactId>reload4j</artifactId>
      <version>${RELOAD4J_VERSION}</version>
    </dependency>
EOF
}

# True when the cache holds a complete install.
install_complete() { maven_complete "$KAFKA_LIB" "$KAFKA_MARKER"; }

do_install() {
    if install_complete; then
        log "Kafka $KAFKA_VERSION already installed in $KAFKA_LIB"
        return 0
    fi
    need java mvn flock
    mkdir -p "$CACHE_ROOT"
    # One installer at a time per version; the others wait, then find it done.
    local lock_fd
    exec {lock_fd}>"$CACHE_ROOT/kafka-$KAFKA_VERSION.lock"
    flock "$lock_fd"
    if install_complete; then
        exec {lock_fd}>&-
        log "Kafka $KAFKA_VERSION already installed in $KAFKA_LIB"
        return 0
    fi

    log "installing Kafka $KAFKA_VERSION (Scala $SCALA_VERSION) from Maven Central into $KAFKA_HOME"
    mkdir -p "$KAFKA_HOME"
    local work
    work=$(mktemp -d "$KAFKA_HOME/install.XXXXXX")
    write_pom "$work/pom.xml"
    if ! maven_copy_deps "$work"; then
        rm -rf "$work"
        die "mvn failed to fetch Kafka $KAFKA_VERSION's jars"
    fi

    # Sanity checks: the broker, the tools, one slf4j binding matching the API.
    local want
    for want in "kafka_$SCALA_VERSION-$KAFKA_VERSION.jar" "kafka-tools-$KAFKA_VERSION.jar" \
                "kafka-storage-$KAFKA_VERSION.jar" "slf4j-api-$SLF4J_VERSION.jar" \
                "slf4j-reload4j-$SLF4J_VERSION.jar" "reload4j-$RELOAD4J_VERSION.jar"; do
        if [[ ! -f "$work/lib/$want" ]]; then
            rm -rf "$work"
            die "install incomplete: $want missing (slf4j-api is $(cd "$work/lib" 2>/dev/null && ls slf4j-api-*.jar 2>/dev/null || echo absent))"
        fi
    done
    if compgen -G "$work/lib/logback-*.jar" >/dev/null; then
        rm -rf "$work"
        die "install has logback jars: a second slf4j binding"
    fi

    cp "$work/pom.xml" "$KAFKA_HOME/pom.xml"
    maven_commit "$work/lib" "$KAFKA_LIB" "$KAFKA_MARKER"
    rm -rf "$work"
    exec {lock_fd}>&-
    log "installed $(wc -l <"$KAFKA_MARKER") jars ($(du -sh "$KAFKA_LIB" | cut -f1)) in $KAFKA_LIB"
}

cmd_install() {
    [[ $# -eq 0 ]] || die "install takes no arguments"
    do_install
    printf '%s\n' "$KAFKA_LIB"
}

# ---------------------------------------------------------------- broker

write_configs() {
    local dir=$1 port=$2 cport=$3
    shift 3
    cat >"$dir/server.properties" <<EOF
# Generated by deploy/kafka.sh: single-node KRaft broker+controller for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$SVC_HOST:$cport
listeners=PLAINTEXT://$SVC_HOST:$port,CONTROLLER://$SVC_HOST:$cport
advertised.listeners=PLAINTEXT://$SVC_HOST:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=500
# A broker killed with SIGKILL and restarted must wait for its old registration's
# session to expire (DUPLICATE_BROKER_REGISTRATION): 3 s instead of 9 s.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
num.network.threads=2
num.io.threads=4
log.cleaner.dedupe.buffer.size=16777216
EOF
    local kv
    for kv in "$@"; do
        printf '%s\n' "$kv" >>"$dir/server.properties"
    done

    cat >"$dir/log4j.properties" <<EOF
# Generated by deploy/kafka.sh: the broker logs to $dir/broker.log.
log4j.rootLogger=$LOG_LEVEL, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/broker.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel\$=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
EOF
}

# Writes a log4j config for command-line tools: WARN and up, to stderr.
write_tools_log4j() {
    cat >"$1" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

# A random Kafka cluster id: 16 random bytes, URL-safe base64 without padding,
# not starting with '-' (as Kafka's own Uuid.randomUuid() guarantees).
random_cluster_id() {
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        [[ "$id" != -* && ${#id} -eq 22 ]] && break
    done
    printf '%s\n' "$id"
}

format_storage() {
    local dir=$1
    if [[ -f "$dir/data/meta.properties" ]]; then
        log "reusing formatted storage in $dir/data"
        return 0
    fi
    rm -rf "$dir/data"
    local cid
    cid=$(random_cluster_id)
    write_tools_log4j "$dir/tools-log4j.properties"
    java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Dlog4j.configuration="file:$dir/tools-log4j.properties" \
        -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format \
        -t "$cid" -c "$dir/server.properties" >&2 ||
        die "formatting $dir/data failed"
}

# True when the broker on SVC_HOST:$1 answers a metadata request.
service_ready() {
    kcat -L -b "$SVC_HOST:$1" -m 5 2>/dev/null | grep -q "broker 1 at $SVC_HOST:$1"
}

# Starts the broker and waits for it. Returns 0 when up, 1 when it failed, 2 when it
# died because a port was taken (so the caller may retry with other ports).
launch_and_wait() {
    local dir=$1 port=$2 rc=0
    local -a heap
    read -r -a heap <<<"$HEAP_OPTS"
    service_launch "$dir" "$port" \
        java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -Djava.awt.headless=true \
            -Dlog4j.configuration="file:$dir/log4j.properties" \
            -Dkafka.logs.dir="$dir" \
            -cp "$KAFKA_LIB/*" kafka.Kafka "$dir/server.properties" || rc=$?
    ((rc != 2)) || log "broker could not bind its ports"
    return "$rc"
}

cmd_start() {
    parse_start_args "$@"
    local dir=$START_DIR port=$START_PORT
    need java kcat ss setsid
    dir=$(abs_dir "$dir")

    local pid
    if pid=$(service_pid "$dir"); then
        [[ -f "$dir/bootstrap" ]] || die "broker $pid runs in $dir but $dir/bootstrap is missing"
        log "broker already running in $dir (pid $pid)"
        cat "$dir/bootstrap"
        return 0
    fi

    do_install
    if ((START_FRESH)); then
        rm -rf "$dir/data" "$dir/broker.log" "$dir/kafka.out" "$dir/ports"
    fi

    # Ports: --port, else the ones this DIR used last (a restarted broker keeps its
    # address, as a real one would), else free ones.
    local bport="" cport="" old_b="" old_c=""
    if [[ -f "$dir/ports" ]]; then
        read -r old_b old_c <"$dir/ports" || true
    fi
    local attempt rc
    for attempt in 1 2 3; do
        if [[ -n "$port" ]]; then
            bport=$port
            port_free "$bport" || die "port $bport is in use"
        elif [[ $attempt -eq 1 && "$old_b" =~ ^[0-9]+$ ]] && port_free "$old_b"; then
            bport=$old_b
        else
            bport=$(free_port)
        fi
        if [[ $attempt -eq 1 && "$old_c" =~ ^[0-9]+$ && "$old_c" != "$bport" ]] && port_free "$old_c"; then
            cport=$old_c
        else
            cport=$(free_port "$bport")
        fi

        write_configs "$dir" "$bport" "$cport" "${START_EXTRA[@]}"
        printf '%s %s\n' "$bport" "$cport" >"$dir/ports"
        format_storage "$dir"
        log "starting Kafka $KAFKA_VERSION in $dir on $SVC_HOST:$bport (controller :$cport)"
        rc=0
        launch_and_wait "$dir" "$bport" || rc=$?
        case $rc in
            0) break ;;
            2) [[ -z "$port" ]] || die "port $bport or $cport is in use"
               log "retrying with other ports" ;;
            *) exit 1 ;;
        esac
    done
    [[ $rc -eq 0 ]] || die "broker failed to start after $attempt attempts"

    service_started "$dir" "$bport"
}

# Reads DIR's bootstrap of a running broker into the variable named $2.
running_bootstrap() {
    local dir=$1
    service_pid "$dir" >/dev/null || die "no broker running in $dir (run: $PROG start --dir $dir)"
    [[ -s "$dir/bootstrap" ]] || die "$dir/bootstrap is missing"
    printf -v "$2" '%s' "$(<"$dir/bootstrap")"
}

cmd_create_topic() {
    local dir="" name="" parts=""
    local -a pos=() cfg=()
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; dir=$2; shift ;;
            --config)
                [[ $# -ge 2 && "$2" == *=* ]] || die "--config needs KEY=VALUE"
                cfg+=(--config "$2"); shift ;;
            -*) die "create-topic: unknown option: $1 (see --help)" ;;
            *) pos+=("$1") ;;
        esac
        shift
    done
    [[ -n "$dir" && ${#pos[@]} -eq 2 ]] || die "usage: $PROG create-topic --dir DIR NAME PARTITIONS"
    name=${pos[0]}
    parts=${pos[1]}
    [[ "$parts" =~ ^[1-9][0-9]*$ ]] || die "bad partition count: $parts"
    need java kcat
    dir=$(abs_dir "$dir")
    local boot
    running_bootstrap "$dir" boot
    install_complete || die "Kafka $KAFKA_VERSION is not installed"

    write_tools_log4j "$dir/tools-log4j.properties"
    java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Dlog4j.configuration="file:$dir/tools-log4j.properties" \
        -cp "$KAFKA_LIB/*" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$boot" --create --topic "$name" \
        --partitions "$parts" --replication-factor 1 "${cfg[@]}" >&2 ||
        die "creating topic $name failed"

    # Wait until the metadata shows every partition with a leader.
    local deadline=$((SECONDS + TOPIC_TIMEOUT)) n=0
    while ((SECONDS < deadline)); do
        n=$(kcat -L -b "$boot" -t "$name" -m 5 2>/dev/null |
            grep -cE '^[[:space:]]+partition [0-9]+, leader [0-9]+,' || true)
        if [[ "$n" -eq "$parts" ]]; then
            log "topic $name: $parts partitions with leaders"
            return 0
        fi
        sleep 0.1
    done
    die "topic $name: only $n of $parts partitions have leaders after ${TOPIC_TIMEOUT}s"
}

# cmd_stop and cmd_status come from lib/service.sh.

cmd_run() {
    [[ $# -ge 1 ]] || die "usage: $PROG run CLASS [ARG]..."
    need java
    do_install
    local cls=$1 conf
    shift
    conf=$(mktemp)
    write_tools_log4j "$conf"
    local rc=0
    java -Xmx256m -Dlog4j.configuration="file:$conf" -cp "$KAFKA_LIB/*" "$cls" "$@" || rc=$?
    rm -f "$conf"
    return "$rc"
}

main() {
    [[ $# -ge 1 ]] || { usage >&2; exit 2; }
    local cmd=$1
    shift
    case "$cmd" in
        install) cmd_install "$@" ;;
        start) cmd_start "$@" ;;
        create-topic) cmd_create_topic "$@" ;;
        stop) cmd_stop "$@" ;;
        status) cmd_status "$@" ;;
        run) cmd_run "$@" ;;
        -h|--help|help) usage ;;
        *) log "unknown command: $cmd"; usage >&2; exit 2 ;;
    esac
}

main "$@"
