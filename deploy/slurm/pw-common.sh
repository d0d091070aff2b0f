# pw-common.sh - sourced by writer.sbatch, reader.sbatch and combined.sbatch (not run directly).
#
# The knobs (environment variables, all optional) are listed in README.md. Knobs left unset
# are not passed, so the command's own default applies.

# pw_log MSG: one line in the job's output, with a UTC time.
pw_log() { printf '%s pw: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# pw_init: checks the binaries and creates the output directory.
# Sets PWRITER, PREADER, PW_OUT_DIR, PW_FILE.
pw_init() {
	local bin=${PW_BIN:-}
	if [ -n "$bin" ]; then
		PWRITER=$bin/pwriter
		PREADER=$bin/preader
	else
		PWRITER=$(command -v pwriter || true)
		PREADER=$(command -v preader || true)
	fi
	if [ ! -x "${PWRITER:-}" ] || [ ! -x "${PREADER:-}" ]; then
		pw_log "ERROR: pwriter/preader not found (PW_BIN='${PW_BIN:-}', PATH='$PATH'); set PW_BIN to the directory holding them"
		exit 2
	fi
	PW_OUT_DIR=${PW_OUT_DIR:-${SLURM_SUBMIT_DIR:-$PWD}/pw-${SLURM_JOB_ID:-local}}
	mkdir -p "$PW_OUT_DIR" || exit 2
	PW_FILE=${PW_FILE:-$PW_OUT_DIR/ckpt.pw}
	mkdir -p "$(dirname "$PW_FILE")" || exit 2
	pw_log "job ${SLURM_JOB_ID:-?} on ${SLURM_JOB_NODELIST:-$(hostname)}: ${SLURM_NTASKS:-?} tasks; file $PW_FILE; outputs in $PW_OUT_DIR"
}

# pw_writer_args: fills the array WARGS with the flags of `pwriter run` from the knobs.
pw_writer_args() {
	WARGS=(--workload "${PW_WORKLOAD:-ckpt}" --json)
	local pair flag var
	for pair in steps:PW_STEPS datasets:PW_DATASETS elems:PW_ELEMS side:PW_SIDE \
		step-delay:PW_STEP_DELAY tick:PW_TICK max-lag:PW_MAX_LAG page-size:PW_PAGE_SIZE; do
		flag=${pair%%:*}
		var=${pair#*:}
		if [ -n "${!var:-}" ]; then WARGS+=("--$flag" "${!var}"); fi
	done
	# On/off knobs are passed as --flag=true or --flag=false, whatever the command's default.
	for pair in flush-raw:PW_FLUSH_RAW durable:PW_DURABLE keep-md:PW_KEEP_MD; do
		flag=${pair%%:*}
		var=${pair#*:}
		case "${!var:-}" in
		"") ;;
		1 | true) WARGS+=("--$flag=true") ;;
		0 | false) WARGS+=("--$flag=false") ;;
		*)
			pw_log "ERROR: $var must be 1 or 0, not '${!var}'"
			exit 2
			;;
		esac
	done
	# Extra flags, split on blanks (e.g. PW_WRITER_ARGS="--cache-pages 4096").
	# shellcheck disable=SC2206
	[ -n "${PW_WRITER_ARGS:-}" ] && WARGS+=(${PW_WRITER_ARGS})
	return 0
}

# pw_reader_args: fills the array RARGS with the flags of `preader watch`.
pw_reader_args() {
	RARGS=(--json)
	[ -n "${PW_READER_TIMEOUT:-}" ] && RARGS+=(--timeout "$PW_READER_TIMEOUT")
	# shellcheck disable=SC2206
	[ -n "${PW_READER_ARGS:-}" ] && RARGS+=(${PW_READER_ARGS})
	return 0
}

# pw_writer_cmd: fills the array RCMD with the command of the writer ranks (pwriter run). With
# PW_LOG_DIR set, rank r logs to PW_LOG_DIR/writer-r.log (pwriter replaces %r by the rank).
# shellcheck disable=SC2034 # RCMD is the result, used by the sbatch scripts
pw_writer_cmd() {
	pw_writer_args
	if [ -n "${PW_LOG_DIR:-}" ]; then
		mkdir -p "$PW_LOG_DIR" || exit 2
		WARGS+=(--log-file "$PW_LOG_DIR/writer-%r.log")
	fi
	RCMD=("$PWRITER" run "${WARGS[@]}" "$PW_FILE")
}

# pw_start_nats: unless PW_NATS_URL is already set, starts NATS and exports PW_NATS_URL: one
# `pwriter nats` per node joined as a cluster when PW_NATS_PER_NODE is 1 (the default on more
# than one node), else one `pwriter nats` in the background on this (the first) node.
pw_start_nats() {
	NATS_PID=""
	if [ -n "${PW_NATS_URL:-}" ]; then
		pw_log "using NATS at $PW_NATS_URL"
		return 0
	fi
	local per_node=${PW_NATS_PER_NODE:-}
	if [ -z "$per_node" ]; then
		per_node=0
		[ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ] && per_node=1
	fi
	case "$per_node" in
	1 | true) pw_start_nats_per_node; return ;;
	0 | false) ;;
	*)
		pw_log "ERROR: PW_NATS_PER_NODE must be 1 or 0, not '$per_node'"
		exit 2
		;;
	esac
	local host=${PW_NATS_HOST:-} port=${PW_NATS_PORT:-} wait=${PW_NATS_WAIT:-30} url=""
	if [ -z "$host" ]; then
		if [ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ]; then
			# Other nodes must reach it: listen on this node's first address.
			host=$(hostname -I 2>/dev/null | awk '{print $1}')
			[ -n "$host" ] || host=$(hostname)
		else
			host=127.0.0.1
		fi
	fi
	# A port derived from the job id keeps concurrent jobs on one node apart.
	[ -n "$port" ] || port=$((20000 + ${SLURM_JOB_ID:-0} % 20000))
	"$PWRITER" nats --listen "$host:$port" >"$PW_OUT_DIR/nats.log" 2>&1 &
	NATS_PID=$!
	trap pw_stop_nats EXIT
	for _ in $(seq 1 $((wait * 10))); do
		url=$(grep -o -m 1 'nats://[^[:space:]"]*' "$PW_OUT_DIR/nats.log" 2>/dev/null | head -n 1 || true)
		[ -n "$url" ] && break
		if ! kill -0 "$NATS_PID" 2>/dev/null; then
			pw_log "ERROR: pwriter nats exited before printing its URL:"
			cat "$PW_OUT_DIR/nats.log"
			NATS_PID=""
			exit 3
		fi
		sleep 0.1
	done
	if [ -z "$url" ]; then
		pw_log "ERROR: pwriter nats printed no nats:// URL within ${wait}s (see $PW_OUT_DIR/nats.log)"
		exit 3
	fi
	export PW_NATS_URL=$url
	pw_log "NATS server pid $NATS_PID at $PW_NATS_URL"
}

# pw_start_nats_per_node: one `pwriter nats` per node of the allocation (a job step with
# --ntasks-per-node=1 that overlaps the others), each serving its node's ranks on 127.0.0.1:PORT
# and routed to the first node's server on the node's address at PORT+20000; exports
# PW_NATS_URL=nats://127.0.0.1:PORT, so every rank talks to its own node's server and a publish
# crosses each route once.
pw_start_nats_per_node() {
	local nodes=${SLURM_JOB_NUM_NODES:-1} port=${PW_NATS_PORT:-} wait=${PW_NATS_WAIT:-30} first faddr n=0
	[ -n "$port" ] || port=$((20000 + ${SLURM_JOB_ID:-0} % 20000))
	first=$(scontrol show hostnames "${SLURM_JOB_NODELIST:-$(hostname)}" 2>/dev/null | head -n 1)
	[ -n "$first" ] || first=$(hostname)
	# PW_NATS_ROUTE_HOST (e.g. 127.0.0.1 on a one-node test cluster) replaces every node's address.
	faddr=${PW_NATS_ROUTE_HOST:-$(getent ahostsv4 "$first" 2>/dev/null | awk 'NR == 1 {print $1}')}
	[ -n "$faddr" ] || faddr=$first
	# shellcheck disable=SC2016 # expanded by the task's shell, on its node
	srun --overlap --nodes="$nodes" --ntasks="$nodes" --ntasks-per-node=1 --kill-on-bad-exit=1 \
		bash -c 'a=${4:-$(getent ahostsv4 "$(hostname)" | awk "NR == 1 {print \$1}")}; [ -n "$a" ] || a=$(hostname)
			exec "$0" nats --listen "127.0.0.1:$1" --cluster "$a:$2" --routes "nats://$3:$2"' \
		"$PWRITER" "$port" "$((port + 20000))" "$faddr" "${PW_NATS_ROUTE_HOST:-}" >"$PW_OUT_DIR/nats.log" 2>&1 &
	NATS_PID=$!
	trap pw_stop_nats EXIT
	for _ in $(seq 1 $((wait * 10))); do
		n=$(grep -c 'nats://' "$PW_OUT_DIR/nats.log" 2>/dev/null || true)
		[ "${n:-0}" -ge "$nodes" ] && break
		if ! kill -0 "$NATS_PID" 2>/dev/null; then
			pw_log "ERROR: the per-node NATS servers exited before printing their URLs:"
			cat "$PW_OUT_DIR/nats.log"
			NATS_PID=""
			exit 3
		fi
		sleep 0.1
	done
	if [ "${n:-0}" -lt "$nodes" ]; then
		pw_log "ERROR: $n of $nodes per-node NATS servers started within ${wait}s (see $PW_OUT_DIR/nats.log)"
		exit 3
	fi
	export PW_NATS_URL=nats://127.0.0.1:$port
	pw_log "NATS: one server per node ($nodes), step pid $NATS_PID; ranks use $PW_NATS_URL, routes on port $((port + 20000))"
}

pw_stop_nats() {
	[ -n "${NATS_PID:-}" ] || return 0
	kill "$NATS_PID" 2>/dev/null || true
	wait "$NATS_PID" 2>/dev/null || true
	NATS_PID=""
}

# pw_wait_file PID: waits until PW_FILE exists, up to PW_FILE_WAIT seconds [120]; gives up early
# when PID (the writer step, if any) has exited. Returns 1 if the file never appeared.
pw_wait_file() {
	local pid=${1:-} deadline=$((SECONDS + ${PW_FILE_WAIT:-120}))
	while [ ! -e "$PW_FILE" ]; do
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			[ -e "$PW_FILE" ] && return 0
			pw_log "writer step ended before $PW_FILE appeared"
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			pw_log "ERROR: $PW_FILE did not appear within ${PW_FILE_WAIT:-120}s"
			return 1
		fi
		sleep 0.2
	done
}

# pw_summary NAME FILE: copies the last line of a step's output into the job log.
pw_summary() {
	if [ -s "$2" ]; then
		pw_log "$1: $(tail -n 1 "$2")"
	else
		pw_log "$1: no output"
	fi
}
