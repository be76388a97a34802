# SPDX-License-Identifier: Apache-2.0
# deploy/lib/maven.sh — jars from Maven Central into a cache directory, as
# deploy/kafka.sh (the broker) and tests/bench/spark/run.sh (Spark's Kafka
# connector) fetch them: mvn's dependency plugin on a generated pom, then the
# jars moved into place and a marker listing them written last, so an
# interrupted install is never taken for a complete one.
# shellcheck shell=bash
#
# Sourced, not run: the sourcing script defines log and die and sets
# DEPENDENCY_PLUGIN_VERSION.

: "${DEPENDENCY_PLUGIN_VERSION:?}"

# maven_complete DIR MARKER: true when MARKER lists jars and every one is in DIR.
maven_complete() {
    [[ -f $2 && -d $1 ]] || return 1
    local jar n=0
    while IFS= read -r jar; do
        [[ -n $jar ]] || continue
        [[ -f $1/$jar ]] || return 1
        n=$((n + 1))
    done <"$2"
    [[ $n -gt 0 ]]
}

# maven_copy_deps WORK [ARG]...: copies the runtime dependencies of WORK/pom.xml
# into WORK/lib; ARGs (more goals, -D options) are passed on to mvn. mvn's
# output is kept in WORK/mvn.log and shown only on failure (Maven 3.8's -q still
# prints stray colour codes); returns mvn's status.
maven_copy_deps() {
    local work=$1
    shift
    if mvn -B -q -Dstyle.color=never -f "$work/pom.xml" \
            "org.apache.maven.plugins:maven-dependency-plugin:$DEPENDENCY_PLUGIN_VERSION:copy-dependencies" \
            -DincludeScope=runtime -DoutputDirectory="$work/lib" "$@" >"$work/mvn.log" 2>&1; then
        return 0
    fi
    sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' "$work/mvn.log" >&2
    return 1
}

# maven_commit FROM LIBDIR MARKER: replaces LIBDIR with the directory FROM, then
# writes MARKER listing its jars.
maven_commit() {
    rm -rf "$2"
    mv "$1" "$2"
    (cd "$2" && ls -1 -- *.jar) >"$3.tmp"
    mv "$3.tmp" "$3"
}
