#!/usr/bin/env bash
# slurm-cluster.sh - start/stop a private, single-node Slurm cluster for tests.
#
#   slurm-cluster.sh start DIR   create DIR, start munged + slurmctld + slurmd
#                                using only files inside DIR, wait until the
#                                node is idle, then print on stdout:
#                                    export SLURM_CONF=DIR/slurm.conf
#                                (meant for: eval "$(slurm-cluster.sh start DIR)")
#   slurm-cluster.sh stop DIR    cancel jobs, stop the daemons started for DIR
#                                (pids kept in DIR), wait for them; idempotent.
#
# Exit status of "start":
#   0  cluster up and node idle
#   3  something needed is missing (binary, root); one line on stderr
#      "slurm-cluster: missing: <what>" -- callers turn this into a test skip
#   1  any other failure; the daemon log tails are printed on stderr and
#      whatever was started is stopped again
#
# The system's /etc/slurm, /etc/munge, /run/munge and any system munged are
# never touched: munge runs with its own key and socket inside DIR, and
# slurm.conf tells Slurm about that socket (AuthInfo=socket=...).  The only
# file outside DIR is an (empty) flock file, ${TMPDIR:-/tmp}/slurm-cluster-
# ports.lock, that keeps concurrent starts from picking the same ports.
#
# Needs root (SlurmUser=root, munged key ownership); tested with Debian 12's
# slurm-wlm 22.05 and munge 0.5.15.

set -euo pipefail

PROG=slurm-cluster
# Seconds to wait for the node to become idle after the daemons were started.
START_TIMEOUT=${SLURM_CLUSTER_START_TIMEOUT:-30}
# Port search range for SlurmctldPort/SlurmdPort (two consecutive free ports).
PORT_FIRST=16817
PORT_LAST=16999

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

log() { echo "$PROG: $*" >&2; }

# Report a missing prerequisite (exit 3 = "skip" for callers).
missing() {
    echo "$PROG: missing: $*" >&2
    exit 3
}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

# pid stored in file $1, if the process is still alive; empty otherwise.
live_pid() {
    local f=$1 pid
    [[ -s $f ]] || return 0
    pid=$(tr -dc '0-9' <"$f" 2>/dev/null || true)
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
    return 0
}

# Is something listening on TCP port $1 on this host?  (TIME-WAIT leftovers
# of an earlier cluster do not count: Slurm binds with SO_REUSEADDR.)
port_busy() {
    local port=$1 hex
    if command -v ss >/dev/null 2>&1; then
        [[ -n $(ss -Hltn "( sport = :$port )" 2>/dev/null) ]]
    else
        # Fallback: /proc/net/tcp{,6}: local address "ADDR:PORTHEX", state 0A = LISTEN.
        printf -v hex '%04X' "$port"
        cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
            awk -v p=":$hex" '$4 == "0A" && toupper(substr($2, length($2) - 4)) == p { f = 1 }
                              END { exit !f }'
    fi
}

# Print the first port P in the range with P and P+1 both free.
pick_ports() {
    local p
    for ((p = PORT_FIRST; p < PORT_LAST; p += 2)); do
        if ! port_busy "$p" && ! port_busy $((p + 1)); then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# Print the last lines of every daemon log in $DIR on stderr.
dump_logs() {
    local f
    for f in "$DIR"/munged.log "$DIR"/slurmctld.log "$DIR"/slurmd.log \
             "$DIR"/*.stderr; do
        [[ -s $f ]] || continue
        echo "----- $f (tail) -----" >&2
        tail -n 30 "$f" >&2 || true
    done
}

# Send SIGTERM to the process in pid file $1, wait up to $2 s, then SIGKILL.
stop_pidfile() {
    local f=$1 wait_s=${2:-15} pid i
    pid=$(live_pid "$f")
    [[ -n $pid ]] || { rm -f "$f"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ($f) did not exit after ${wait_s}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$f"
}

# pids of slurmstepd processes belonging to this cluster (found through the
# SLURM_CONF=$CONF entry in their environment, inherited from our slurmd).
our_stepds() {
    local p
    for p in /proc/[0-9]*; do
        [[ $(cat "$p/comm" 2>/dev/null) == slurmstepd ]] || continue
        { tr '\0' '\n' <"$p/environ"; } 2>/dev/null |
            grep -qxF "SLURM_CONF=$CONF" && echo "${p#/proc/}"
    done
    return 0
}

# All descendants of the given pids (the pids themselves included).
with_descendants() {
    [[ $# -gt 0 ]] || return 0
    ps -e -o pid=,ppid= | awk -v roots="$*" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
        { parent[$1] = $2 }
        END {
            do { changed = 0
                 for (p in parent)
                     if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 }
            } while (changed)
            for (p in keep) print p
        }'
}

# ---------------------------------------------------------------------------
# stop
# ---------------------------------------------------------------------------
do_stop() {
    local pids i

    # 1. Cancel all jobs while slurmctld is still up, so that slurmstepd
    #    cleans up the job processes itself (KillWait=2).
    if [[ -n $(live_pid "$DIR/slurmctld.pid") ]] && command -v scancel >/dev/null; then
        SLURM_CONF=$CONF timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1 || true
        for ((i = 0; i < 50; i++)); do
            [[ -z $(our_stepds) ]] && break
            sleep 0.2
        done
    fi

    # 2. Daemons, in reverse start order.
    stop_pidfile "$DIR/slurmd.pid" 15
    stop_pidfile "$DIR/slurmctld.pid" 15

    # 3. Leftover job step daemons (and the job processes below them).
    pids=$(our_stepds)
    if [[ -n $pids ]]; then
        # shellcheck disable=SC2086
        pids=$(with_descendants $pids)
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    fi

    # 4. munge last: the steps above may still have needed it.
    stop_pidfile "$DIR/munged.pid" 10
    return 0
}

# ---------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------

# EXIT trap while starting: on failure show the logs and undo the start.
on_start_exit() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        dump_logs
        do_stop
    fi
    exit "$rc"
}

do_start() {
    local b node cpus mem_kb realmem defmem nodeline port ctld_port slurmd_port
    local t0 i state

    # -- prerequisites (exit 3 = skip) --------------------------------------
    [[ $(id -u) -eq 0 ]] || missing "root (running as uid $(id -u))"
    for b in munged mungekey slurmctld slurmd sbatch sinfo scontrol scancel \
             hostname nproc ps timeout; do
        command -v "$b" >/dev/null 2>&1 || missing "$b"
    done

    # Refuse to start twice in the same DIR.
    if [[ -n $(live_pid "$DIR/slurmctld.pid") || -n $(live_pid "$DIR/munged.pid") ]]; then
        log "a cluster is already running in $DIR"
        exit 1
    fi

    # From here on, any failure prints the logs and stops what was started.
    trap on_start_exit EXIT

    mkdir -p "$DIR"
    # munged refuses key/socket dirs that are writable by group/others.
    chmod go-w "$DIR"
    mkdir -p "$DIR/state" "$DIR/spool"
    chmod 0700 "$DIR/state" "$DIR/spool"

    # -- munge: own key, own socket -----------------------------------------
    rm -f "$DIR/munge.key"
    if ! mungekey --create --keyfile="$DIR/munge.key" --force \
            >"$DIR/mungekey.stderr" 2>&1; then
        log "mungekey failed"
        exit 1
    fi
    chmod 0400 "$DIR/munge.key"
    munged --socket="$DIR/munge.sock" \
           --key-file="$DIR/munge.key" \
           --pid-file="$DIR/munged.pid" \
           --log-file="$DIR/munged.log" \
           --seed-file="$DIR/munged.seed" \
           --force \
           </dev/null >/dev/null 2>"$DIR/munged.stderr" 9>&- || {
        log "munged failed to start"
        exit 1
    }
    for ((i = 0; i < 50; i++)); do
        [[ -S $DIR/munge.sock ]] && break
        sleep 0.1
    done
    [[ -S $DIR/munge.sock ]] || { log "munged socket $DIR/munge.sock did not appear"; exit 1; }

    # -- node description ----------------------------------------------------
    node=$(hostname -s)
    cpus=$(nproc)
    mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    realmem=$((mem_kb * 8 / 10 / 1024))          # ~80% of MemTotal, in MB
    # Take the CPU layout from `slurmd -C` (a mismatch would drain the node);
    # drop its RealMemory (we use a lower one) and keep the rest.
    nodeline=$(slurmd -C 2>/dev/null | head -n 1 | grep '^NodeName=' || true)
    if [[ -n $nodeline ]]; then
        nodeline=$(sed -E -e 's/ RealMemory=[0-9]+//' \
                          -e "s/^NodeName=[^ ]+/NodeName=$node/" <<<"$nodeline")
        cpus=$(sed -nE 's/.* CPUs=([0-9]+).*/\1/p' <<<"$nodeline")
        [[ -n $cpus ]] || cpus=$(nproc)
    else
        nodeline="NodeName=$node CPUs=$cpus"
    fi
    # Without a default, a job asks for the whole node's memory and
    # CR_Core_Memory would run only one job at a time.
    defmem=$((realmem / cpus))

    # -- ports -----------------------------------------------------------------
    # Concurrent starts (parallel tests) could pick the same free ports before
    # either binds them: serialize from port choice until the node is up.
    # fd 9 is closed for the daemons so that they do not hold the lock.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"${TMPDIR:-/tmp}/slurm-cluster-ports.lock"
        flock -w 120 9 || { log "could not get the port lock"; exit 1; }
    fi
    port=$(pick_ports) || { log "no two free ports in $PORT_FIRST-$PORT_LAST"; exit 1; }
    ctld_port=$port
    slurmd_port=$((port + 1))

    # -- slurm.conf ---------------------------------------------------------
    : >"$DIR/plugstack.conf"        # keep /etc/slurm/plugstack.conf out
    : >"$DIR/jobcomp.txt"
    cat >"$CONF" <<EOF
# Generated by $0 for a private single-node test cluster.
ClusterName=deferbench-test
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port

# Authentication through our private munged.
AuthType=auth/munge
AuthInfo=socket=$DIR/munge.sock
CredType=cred/munge

# Everything lives in $DIR.
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
PlugStackConfig=$DIR/plugstack.conf

# No cgroups.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
MailProg=/bin/true

SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$defmem

ReturnToService=2
MinJobAge=3600
KillWait=2
OverTimeLimit=0
InactiveLimit=0
MaxArraySize=10000

JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
AccountingStorageType=accounting_storage/none

$nodeline RealMemory=$realmem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

    # -- Slurm daemons -------------------------------------------------------
    # Both daemonize; their std fds go to files so that a caller's $(...)
    # does not wait for them.
    export SLURM_CONF=$CONF
    slurmctld -f "$CONF" -c -i </dev/null >/dev/null 2>"$DIR/slurmctld.stderr" 9>&- || {
        log "slurmctld failed to start"
        exit 1
    }
    slurmd -f "$CONF" -N "$node" -c </dev/null >/dev/null 2>"$DIR/slurmd.stderr" 9>&- || {
        log "slurmd failed to start"
        exit 1
    }

    # -- wait for the node to be idle ---------------------------------------
    t0=$SECONDS
    state=
    while ((SECONDS - t0 < START_TIMEOUT)); do
        state=$(timeout 5 sinfo -h -N -n "$node" -o %t 2>/dev/null | head -n 1 || true)
        [[ $state == idle ]] && break
        # Bail out early if a daemon died.
        if [[ -z $(live_pid "$DIR/slurmctld.pid") && $((SECONDS - t0)) -gt 3 ]]; then
            log "slurmctld is not running"
            exit 1
        fi
        sleep 0.5
    done
    if [[ $state != idle ]]; then
        log "node $node not idle after ${START_TIMEOUT}s (state: '${state:-none}')"
        exit 1
    fi

    trap - EXIT
    exec 9>&-                       # release the port lock
    echo "export SLURM_CONF=$CONF"
}

# ---------------------------------------------------------------------------
[[ $# -eq 2 ]] || usage
CMD=$1
DIR=$2
[[ -n $DIR ]] || usage
# Absolute path: it ends up in slurm.conf and in the caller's environment.
case $DIR in
    /*) ;;
    *) DIR=$PWD/$DIR ;;
esac
DIR=${DIR%/}
CONF=$DIR/slurm.conf

case $CMD in
    start) do_start ;;
    stop)
        [[ -d $DIR ]] || exit 0
        do_stop
        ;;
    *) usage ;;
esac
