#!/usr/bin/env bash
# test-heat3d.sh - CI test: examples/heat3d under srun -n 4 on the one-node local cluster, with
# heat3d_reader following it (heat3d.sbatch), as root. Builds libpwstore (scripts/install-lib)
# and the programs into a temporary directory first. Prints PASS or FAIL; the exit status says
# the same. Hold /tmp/pw-slurm.lock around it when others may use the cluster:
#
#   flock /tmp/pw-slurm.lock deploy/slurm/test-heat3d.sh
#
# Environment: PW_TEST_LIMIT (seconds for the job, 300), PW_SLURM_KEEP=1 (leave the cluster up).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIMIT=${PW_TEST_LIMIT:-300}

fail() {
	printf 'test-heat3d: %s\n' "$*" >&2
	printf 'FAIL\n'
	exit 1
}

[ "$(id -u)" -eq 0 ] || fail "must run as root (it sets up Slurm and munge)"
for tool in mpicc gcc pkg-config; do command -v "$tool" >/dev/null || fail "$tool not found"; done

WORK=$(mktemp -d /tmp/pw-heat3d-test.XXXXXX)
"$ROOT/scripts/install-lib" "$WORK/prefix" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "install-lib failed"; }
export PKG_CONFIG_PATH=$WORK/prefix/lib/pkgconfig
# shellcheck disable=SC2046 # pkg-config prints several flags
mpicc -O2 -o "$WORK/heat3d" "$ROOT/examples/heat3d/heat3d.c" $(pkg-config --cflags --libs pwstore) -lm || fail "mpicc heat3d.c failed"
# shellcheck disable=SC2046
gcc -O2 -o "$WORK/heat3d_reader" "$ROOT/examples/heat3d/heat3d_reader.c" $(pkg-config --cflags --libs pwstore) -lm || fail "gcc heat3d_reader.c failed"

started=0
if ! "$HERE/local-cluster.sh" status >/dev/null 2>&1; then started=1; fi
finish() {
	if [ "$started" -eq 1 ] && [ "${PW_SLURM_KEEP:-0}" != 1 ]; then
		"$HERE/local-cluster.sh" stop >/dev/null 2>&1 || true
	fi
}
trap finish EXIT
"$HERE/local-cluster.sh" start </dev/null || fail "could not set up the local Slurm cluster"

minutes=$(((LIMIT + 59) / 60))
PW_HEAT3D=$WORK/heat3d PW_HEAT3D_READER=$WORK/heat3d_reader PW_OUT_DIR=$WORK/out \
	timeout "$((LIMIT + 60))" sbatch --wait --parsable --ntasks=4 --overcommit --time="$minutes" \
	--output="$WORK/job-%j.log" "$HERE/heat3d.sbatch" >"$WORK/sbatch.out" 2>"$WORK/sbatch.err" </dev/null
rc=$?
JOB=$(grep -o -m 1 '^[0-9]\+' "$WORK/sbatch.out" || true)
[ -n "$JOB" ] || { cat "$WORK/sbatch.err" >&2; fail "sbatch did not submit the job (exit $rc)"; }
if [ "$rc" -eq 124 ]; then scancel "$JOB"; fi
state=$(scontrol show job "$JOB" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
cat "$WORK"/job-*.log
if [ "$rc" -ne 0 ] || ! grep -q 'OK: .* checkpoints' "$WORK"/job-*.log; then
	for f in "$WORK"/out/*.out; do printf -- '----- %s\n' "$f"; tail -n 20 "$f"; done
	fail "job $JOB: sbatch exit $rc, state ${state:-?}"
fi
rm -rf "$WORK"
printf 'PASS\n'
