#!/usr/bin/env bash
# test-slurm.sh - CI test: a real Slurm job (combined.sbatch) on a one-node local cluster.
#
#   deploy/slurm/test-slurm.sh BINDIR      (BINDIR holds built pwriter and preader)
#
# Runs as root on a fresh Debian machine: sets up the cluster with local-cluster.sh, submits
# combined.sbatch with small settings and sbatch --wait under a time limit, then checks the
# job's final state, that every reader summary line reports "errors":0, and that
# `preader verify` accepts the file. Prints PASS or FAIL; the exit status says the same.
#
# Environment:
#   PW_TEST_WRITERS, PW_TEST_READERS, PW_TEST_STEPS, PW_TEST_TICK   [2, 2, 20, 50ms]
#   PW_TEST_STEP_DELAY  pause between steps, so the readers follow a file still growing [100ms]
#   PW_TEST_LIMIT    seconds allowed for the job  [300]
#   PW_TEST_DIR      work directory  [a new directory under /tmp, removed on PASS]
#   PW_SLURM_KEEP=1  leave the cluster running (by default it is stopped if this test started it)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${1:-${PW_BIN:-}}
WRITERS=${PW_TEST_WRITERS:-2}
READERS=${PW_TEST_READERS:-2}
STEPS=${PW_TEST_STEPS:-20}
TICK=${PW_TEST_TICK:-50ms}
DELAY=${PW_TEST_STEP_DELAY:-100ms}
LIMIT=${PW_TEST_LIMIT:-300}

fail() {
	printf 'test-slurm: %s\n' "$*" >&2
	printf 'FAIL\n'
	exit 1
}

[ -n "$BIN" ] || fail "usage: $0 BINDIR (the directory holding pwriter and preader)"
BIN=$(cd "$BIN" 2>/dev/null && pwd) || fail "no directory $1"
if [ ! -x "$BIN/pwriter" ] || [ ! -x "$BIN/preader" ]; then fail "$BIN lacks executable pwriter and preader"; fi
[ "$(id -u)" -eq 0 ] || fail "must run as root (it sets up Slurm and munge)"

started=0
if ! "$HERE/local-cluster.sh" status >/dev/null 2>&1; then started=1; fi
"$HERE/local-cluster.sh" start </dev/null || fail "could not set up the local Slurm cluster"

WORK=${PW_TEST_DIR:-$(mktemp -d /tmp/pw-slurm-test.XXXXXX)}
mkdir -p "$WORK" || fail "cannot create $WORK"
OUT=$WORK/out
FILE=$OUT/ckpt.pw

finish() {
	if [ "$started" -eq 1 ] && [ "${PW_SLURM_KEEP:-0}" != 1 ]; then
		"$HERE/local-cluster.sh" stop >/dev/null 2>&1 || true
	fi
}
trap finish EXIT

# dump: everything a CI log needs to see why it failed.
dump() {
	local f
	for f in "$WORK"/job-*.log "$OUT"/*.out "$OUT"/nats.log; do
		[ -f "$f" ] || continue
		printf -- '----- %s (last 40 lines)\n' "$f"
		tail -n 40 "$f"
	done
	[ -n "${JOB:-}" ] && scontrol show job "$JOB" 2>/dev/null
}

ntasks=$((WRITERS + READERS))
minutes=$(((LIMIT + 59) / 60))
echo "test-slurm: combined.sbatch with $WRITERS writers, $READERS readers, $STEPS steps $DELAY apart, tick $TICK in $WORK"
# --overcommit: the local node may have fewer cores than writers + readers.
PW_BIN=$BIN PW_SLURM_DIR=$HERE PW_OUT_DIR=$OUT PW_FILE=$FILE \
	PW_WRITERS=$WRITERS PW_READERS=$READERS PW_STEPS=$STEPS PW_TICK=$TICK PW_STEP_DELAY=$DELAY \
	PW_READER_TIMEOUT=60s PW_READER_GRACE=30 \
	timeout "$((LIMIT + 60))" sbatch --wait --parsable --ntasks="$ntasks" --overcommit \
	--time="$minutes" --output="$WORK/job-%j.log" "$HERE/combined.sbatch" \
	>"$WORK/sbatch.out" 2>"$WORK/sbatch.err" </dev/null
rc=$?
JOB=$(grep -o -m 1 '^[0-9]\+' "$WORK/sbatch.out" || true)
if [ "$rc" -eq 124 ]; then
	[ -n "$JOB" ] && scancel "$JOB"
	dump
	fail "job ${JOB:-?} did not finish within $((LIMIT + 60))s"
fi
[ -n "$JOB" ] || { cat "$WORK/sbatch.err" >&2; fail "sbatch did not submit the job (exit $rc)"; }

state=$(scontrol show job "$JOB" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
exitcode=$(scontrol show job "$JOB" 2>/dev/null | grep -o ' ExitCode=[0-9:]*' | cut -d= -f2)
echo "test-slurm: job $JOB: sbatch exit $rc, state ${state:-?}, exit code ${exitcode:-?}"

problems=()
[ "$rc" -eq 0 ] || problems+=("sbatch --wait exited $rc")
[ "$state" = COMPLETED ] || problems+=("job state is '${state:-unknown}', not COMPLETED")
[ "$exitcode" = 0:0 ] || problems+=("job exit code is '${exitcode:-unknown}', not 0:0")

if grep -q '^{' "$OUT/writer.out" 2>/dev/null; then :; else problems+=("no JSON line from the writer in $OUT/writer.out"); fi

summaries=$(grep -E '"summary"[[:space:]]*:[[:space:]]*true' "$OUT/reader.out" 2>/dev/null || true)
if [ -z "$summaries" ]; then
	problems+=("no reader summary line (\"summary\":true) in $OUT/reader.out")
else
	bad=$(printf '%s\n' "$summaries" | grep -Ev '"errors"[[:space:]]*:[[:space:]]*0[^0-9.]' || true)
	[ -z "$bad" ] || problems+=("reader summary without \"errors\":0: $bad")
	echo "test-slurm: reader summary: $(printf '%s\n' "$summaries" | tail -n 1)"
fi

if [ -e "$FILE" ]; then
	if "$BIN/preader" verify "$FILE" --json >"$WORK/verify.out" 2>&1 </dev/null; then
		echo "test-slurm: preader verify: $(tail -n 1 "$WORK/verify.out")"
	else
		problems+=("preader verify $FILE failed: $(tail -n 3 "$WORK/verify.out")")
	fi
else
	problems+=("the job wrote no file $FILE")
fi

if [ "${#problems[@]}" -gt 0 ]; then
	dump
	printf 'test-slurm: %s\n' "${problems[@]}" >&2
	printf 'FAIL\n'
	exit 1
fi
[ -n "${PW_TEST_DIR:-}" ] || rm -rf "$WORK"
printf 'PASS\n'
