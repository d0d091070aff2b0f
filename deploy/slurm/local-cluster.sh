#!/usr/bin/env bash
# local-cluster.sh - a one-node Slurm cluster on this Debian machine, on loopback.
#
#   local-cluster.sh [start]   install slurm-wlm + munge if needed, configure, start the
#                              daemons, wait until the node is idle. Safe to run twice: if
#                              the cluster is already up with this configuration, it only
#                              checks it.
#   local-cluster.sh status    show whether munged, slurmctld and slurmd are up (exit 1 if not)
#   local-cluster.sh stop      stop slurmd, slurmctld and the munged this script started
#
# Needs root (it installs packages and writes /etc/slurm/slurm.conf). Works without systemd:
# the daemons are started directly and tracked by their pid files under $PW_SLURM_STATE.
#
# Environment:
#   PW_SLURM_STATE   state, spool, logs and pid files  [/var/spool/pwslurm]
#   PW_SLURM_WAIT    seconds to wait for the node to become idle  [60]
#   PW_SLURM_MEM     RealMemory of the node in MB  [1024]
#   PW_SLURM_FORCE   1 = overwrite an /etc/slurm/slurm.conf this script did not write  [0]
set -euo pipefail

STATE=${PW_SLURM_STATE:-/var/spool/pwslurm}
WAIT=${PW_SLURM_WAIT:-60}
MEM=${PW_SLURM_MEM:-1024}
CONF=/etc/slurm/slurm.conf
MARKER="# Written by pwstore deploy/slurm/local-cluster.sh"
MUNGE_PID=/run/munge/munged.pid
MUNGE_STARTED=$STATE/munged.started-by-us
HOST=$(hostname -s)

say() { printf 'local-cluster: %s\n' "$*"; }
die() { printf 'local-cluster: ERROR: %s\n' "$*" >&2; exit 1; }

need_root() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and writes $CONF)"
}

# alive PIDFILE: true when the pid file names a running process.
alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

install_packages() {
	if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
		command -v munged >/dev/null && command -v sinfo >/dev/null; then
		return
	fi
	say "installing slurm-wlm and munge (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q slurm-wlm munge </dev/null; then
		apt-get update -q </dev/null || die "apt-get update failed"
		apt-get install -y -q slurm-wlm munge </dev/null || die "apt-get install slurm-wlm munge failed"
	fi
}

# Slurm and munge both resolve the node's own name; a container often cannot.
ensure_hostname() {
	if ! getent hosts "$HOST" >/dev/null; then
		say "adding '127.0.0.1 $HOST' to /etc/hosts (the hostname did not resolve)"
		printf '127.0.0.1\t%s\n' "$HOST" >>/etc/hosts
	fi
}

start_munge() {
	install -d -o munge -g munge -m 0755 /run/munge
	install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge /etc/munge
	if [ ! -s /etc/munge/munge.key ]; then
		say "creating /etc/munge/munge.key"
		if command -v mungekey >/dev/null; then
			mungekey --create --keyfile=/etc/munge/munge.key
		else
			dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
		fi
	fi
	chown munge:munge /etc/munge/munge.key
	chmod 0400 /etc/munge/munge.key
	if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
		return
	fi
	say "starting munged"
	# Run it as the munge user, as Debian's service does: the key and its directories belong to munge.
	runuser -u munge -- /usr/sbin/munged </dev/null || die "munged did not start (see /var/log/munge/munged.log)"
	touch "$MUNGE_STARTED"
	for _ in $(seq 1 50); do
		if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
			return
		fi
		sleep 0.1
	done
	die "munge credentials do not round-trip (munge -n | unmunge); see /var/log/munge/munged.log"
}

# write_conf FILE: the cluster's slurm.conf for this machine.
write_conf() {
	cat >"$1" <<EOF
$MARKER
# One node ($HOST) on loopback; remove with: local-cluster.sh stop
ClusterName=pwlocal
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
KillWait=10
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
EOF
}

node_state() {
	sinfo -h -n "$HOST" -o '%t' 2>/dev/null | head -n 1
}

daemons_up() {
	alive "$STATE/slurmctld.pid" && alive "$STATE/slurmd.pid"
}

stop_slurm() {
	local f pid
	for f in slurmd slurmctld; do
		alive "$STATE/$f.pid" || continue
		pid=$(cat "$STATE/$f.pid")
		say "stopping $f (pid $pid)"
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "$f did not stop in 10 s; killing it"
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
}

stop_munge() {
	[ -f "$MUNGE_STARTED" ] || return 0
	if alive "$MUNGE_PID"; then
		say "stopping munged (pid $(cat "$MUNGE_PID"))"
		munged --stop >/dev/null 2>&1 || kill "$(cat "$MUNGE_PID")" 2>/dev/null || true
	fi
	rm -f "$MUNGE_STARTED"
}

wait_idle() {
	local deadline=$((SECONDS + WAIT)) st="" resumed=0
	while [ "$SECONDS" -lt "$deadline" ]; do
		st=$(node_state || true)
		case "$st" in
		idle | mix | alloc | comp) return 0 ;;
		down* | drain* | drng* | fail*)
			# A node that was up before a restart can come back down; ReturnToService=2
			# normally clears it, this covers the rest.
			if [ "$resumed" -eq 0 ]; then
				scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
				resumed=1
			fi
			;;
		esac
		alive "$STATE/slurmctld.pid" || die "slurmctld exited; last log lines:
$(tail -n 20 "$STATE/slurmctld.log" 2>/dev/null)"
		alive "$STATE/slurmd.pid" || die "slurmd exited; last log lines:
$(tail -n 20 "$STATE/slurmd.log" 2>/dev/null)"
		sleep 0.5
	done
	die "node $HOST not idle after ${WAIT}s (state: '${st:-none}'); sinfo:
$(sinfo 2>&1)
slurmctld.log:
$(tail -n 15 "$STATE/slurmctld.log" 2>/dev/null)
slurmd.log:
$(tail -n 15 "$STATE/slurmd.log" 2>/dev/null)"
}

start() {
	need_root
	install_packages
	ensure_hostname
	install -d -m 0755 "$STATE" "$STATE/ctld" "$STATE/d" /etc/slurm
	start_munge

	local tmp
	tmp=$(mktemp)
	write_conf "$tmp"
	if [ -f "$CONF" ] && ! grep -qxF "$MARKER" "$CONF" && [ "${PW_SLURM_FORCE:-0}" != 1 ]; then
		rm -f "$tmp"
		die "$CONF exists and was not written by this script; set PW_SLURM_FORCE=1 to replace it"
	fi
	if [ -f "$CONF" ] && cmp -s "$tmp" "$CONF"; then
		rm -f "$tmp"
	else
		if daemons_up; then
			say "configuration changed; restarting the daemons"
			stop_slurm
		fi
		install -m 0644 "$tmp" "$CONF"
		rm -f "$tmp"
		say "wrote $CONF"
	fi

	if daemons_up; then
		say "daemons already running; checking the node"
	else
		stop_slurm # a half-up cluster: start both from scratch
		say "starting slurmctld and slurmd"
		slurmctld </dev/null || die "slurmctld did not start; see $STATE/slurmctld.log"
		slurmd </dev/null || die "slurmd did not start; see $STATE/slurmd.log"
	fi
	wait_idle
	say "cluster up: node $HOST is $(node_state), $(nproc) CPUs, partition debug (OverSubscribe=FORCE)"
	sinfo
	say "try:  srun -n 4 --overcommit hostname"
	say "stop: $0 stop"
}

status() {
	local rc=0
	if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then say "munged: up"; else say "munged: down"; rc=1; fi
	if alive "$STATE/slurmctld.pid"; then say "slurmctld: up (pid $(cat "$STATE/slurmctld.pid"))"; else say "slurmctld: down"; rc=1; fi
	if alive "$STATE/slurmd.pid"; then say "slurmd: up (pid $(cat "$STATE/slurmd.pid"))"; else say "slurmd: down"; rc=1; fi
	[ "$rc" -eq 0 ] && say "node $HOST: $(node_state)"
	return "$rc"
}

case "${1:-start}" in
start) start ;;
stop)
	need_root
	stop_slurm
	stop_munge
	say "stopped"
	;;
status) status ;;
*)
	echo "usage: $0 [start|status|stop]" >&2
	exit 2
	;;
esac
