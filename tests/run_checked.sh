#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a test binary and fails if a sanitizer reported anything, even inside a
# test that Criterion counted as passed: LeakSanitizer's exit code is lost in
# Criterion's forked workers, so the report itself is the evidence (so is
# ThreadSanitizer's exit code 66, and TSan's reports are WARNINGs).
set -u
log=$(mktemp "${TMPDIR:-/tmp}/rill-test-log.XXXXXX")
"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$log"; then
	echo "run_checked: sanitizer report in the output above" >&2
	[ "$status" -eq 0 ] && status=1
fi
rm -f "$log"
exit "$status"
