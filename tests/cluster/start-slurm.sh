#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for trying profiles/slurm without a cluster.
#
#   tests/cluster/start-slurm.sh [COMMAND ARGS...]
#
# Installs the Debian packages when missing (slurmctld, slurmd, slurm-client, munge, slurmdbd,
# mariadb-server), writes a slurm.conf for one node with this machine's cores and memory (one
# partition, no GRES, no GPU, no cgroups), starts munged, MariaDB, slurmdbd (job accounting: the
# executor plugin checks job status with `sacct` and accounts with `sacctmgr`), slurmctld and slurmd,
# registers the cluster, the account `pad` and the calling user in it, and waits until `sinfo` shows
# the node idle. Then it runs COMMAND with SLURM_CONF set (without one: an interactive shell,
# or, with no terminal, it waits until it is stopped), and stops every daemon it started when it
# exits, however it exits. The daemons run as root, so the script needs root.
#
# Everything lives in PAD_SLURM_DIR (default /tmp/pad-slurm-$PAD_SLURM_PORT): configs, munge key,
# database, state, logs. PAD_SLURM_PORT (default 6817) is slurmctld's port; slurmd, slurmdbd
# and MariaDB (bound to 127.0.0.1) use the next three. PAD_SLURM_READY, when set, is a file written
# once the node is idle (for callers that wait on it). KillWait, the grace time between SIGTERM and
# SIGKILL when a job is cancelled or runs out of time, is 30 s.
#
# Exit status 77: the cluster cannot be started here (not root, or the packages cannot be
# installed); the reason is on stderr. Any other failure is a real error.
set -euo pipefail

PORT=${PAD_SLURM_PORT:-6817}
DIR=${PAD_SLURM_DIR:-/tmp/pad-slurm-$PORT}
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)

cannot_start() {
    echo "start-slurm.sh: cannot start a SLURM cluster here: $*" >&2
    exit 77
}

[[ $(id -u) == 0 ]] || cannot_start "the daemons must run as root (this is uid $(id -u))"

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || cannot_start "no apt-get to install ${missing[*]}"
    echo "start-slurm.sh: installing ${missing[*]}" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"; } >&2 || cannot_start "apt-get could not install ${missing[*]}"
fi

for port in "$PORT" "$((PORT + 1))" "$((PORT + 2))" "$((PORT + 3))"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "start-slurm.sh: port $port is taken (another cluster?); set PAD_SLURM_PORT" >&2
        exit 1
    fi
done

NODE=$(hostname -s)
CPUS=$(nproc --all)
MEM_MB=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 1024))   # leave 1 GiB to the OS
rm -rf "$DIR"
mkdir -p "$DIR"/{state,spool,log,db}
chmod 0755 "$DIR"
export SLURM_CONF=$DIR/slurm.conf

cat >"$SLURM_CONF" <<EOF
# written by tests/cluster/start-slurm.sh
ClusterName=pad
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((PORT + 2))
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=30
InactiveLimit=0
SchedulerParameters=sched_interval=2
SlurmctldParameters=enable_configless
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=pad Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

pids=()
stop() {
    local status=$?
    trap - EXIT INT TERM
    [[ -n ${waiter:-} ]] && kill "$waiter" 2>/dev/null
    [[ $(readlink /run/slurm/conf 2>/dev/null) == "$DIR"/* ]] && rm -f /run/slurm/conf
    # a job's processes can outlive a cancelled job (proctrack/linuxproc lost a preempted job step's
    # Snakemake once): whatever still runs as part of a job of this cluster goes with the cluster
    if ((${#pids[@]})); then
        for environ in /proc/[0-9]*/environ; do
            pid=${environ#/proc/}; pid=${pid%/environ}
            [[ $pid == "$$" ]] && continue
            vars=$(tr '\0' '\n' < "$environ" 2>/dev/null) || continue
            grep -q '^SLURM_JOB_ID=' <<<"$vars" && grep -qx 'SLURM_CLUSTER_NAME=pad' <<<"$vars" \
                && { kill -9 "$pid" 2>/dev/null || true; }
        done
    fi
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    done
    ((${#pids[@]})) && echo "start-slurm.sh: stopped the cluster in $DIR" >&2
    exit "$status"
}
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# munge on its default socket: the accounting clients (sacctmgr, sacct) ignore AuthInfo's socket in
# SLURM 22.05. A munged already serving it (the machine's own) is used as it is and left running.
if ! munge --no-input 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge
    chmod 0755 /run/munge
    mungekey --create --keyfile="$DIR/munge.key" --force
    munged --foreground --key-file="$DIR/munge.key" --pid-file="$DIR/munged.pid" --seed-file="$DIR/munge.seed" \
        >>"$DIR/log/munged.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do munge --no-input 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge --no-input | unmunge >/dev/null || { echo "start-slurm.sh: munged did not start ($DIR/log/munged.log)" >&2; exit 1; }
fi

# job accounting: MariaDB for slurmdbd, on 127.0.0.1 only, its root reached through its own socket
DB_PASS=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
mariadb-install-db --no-defaults --user=root --datadir="$DIR/db" --auth-root-authentication-method=socket \
    >"$DIR/log/mariadb-install.log" 2>&1 || { echo "start-slurm.sh: mariadb-install-db failed; see $DIR/log" >&2; exit 1; }
mariadbd --no-defaults --user=root --datadir="$DIR/db" --socket="$DIR/mariadb.socket" --bind-address=127.0.0.1 \
    --port=$((PORT + 3)) --pid-file="$DIR/mariadb.pid" --log-error="$DIR/log/mariadb.log" --skip-log-bin 2>>"$DIR/log/mariadb.log" &
pids+=($!)
for _ in $(seq 100); do mariadb-admin --no-defaults --socket="$DIR/mariadb.socket" ping >/dev/null 2>&1 && break; sleep 0.2; done
mariadb --no-defaults --socket="$DIR/mariadb.socket" \
    -e "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" \
    || { echo "start-slurm.sh: MariaDB did not start; see $DIR/log" >&2; exit 1; }
cat >"$DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((PORT + 2))
SlurmUser=root
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((PORT + 3))
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
chmod 0600 "$DIR/slurmdbd.conf"
slurmdbd -D >>"$DIR/log/slurmdbd.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do timeout 5 sacctmgr --noheader list cluster >/dev/null 2>&1 && break; sleep 0.2; done
USER_NAME=${SUDO_USER:-$(id -un)}
sacctmgr --immediate add cluster pad >/dev/null
sacctmgr --immediate add account pad cluster=pad description="PAD test cluster" >/dev/null
sacctmgr --immediate add user "$USER_NAME" account=pad cluster=pad >/dev/null

slurmctld -D -f "$SLURM_CONF" >>"$DIR/log/slurmctld.out" 2>&1 &
pids+=($!)
# configless: slurmd fetches the config from slurmctld and caches it behind /run/slurm/conf, where the
# commands a job runs on the node find it (the executor plugin's job step drops SLURM_CONF from srun's
# environment). A /etc/slurm/slurm.conf would come first for them.
[[ -e /etc/slurm/slurm.conf ]] && echo "start-slurm.sh: warning: jobs' srun will read /etc/slurm/slurm.conf" >&2
slurmd -D --conf-server "127.0.0.1:$PORT" >>"$DIR/log/slurmd.out" 2>&1 &
pids+=($!)

state=""
for _ in $(seq 120); do
    state=$(sinfo --noheader --nodes="$NODE" --format=%T 2>/dev/null || true)
    [[ $state == idle ]] && break
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "start-slurm.sh: a daemon exited; see $DIR/log" >&2; tail -n 20 "$DIR"/log/*.log >&2; exit 1; }
    done
    sleep 0.5
done
if [[ $state != idle ]]; then
    echo "start-slurm.sh: node $NODE is '${state:-unknown}', not idle, after 60 s; see $DIR/log" >&2
    tail -n 20 "$DIR"/log/*.log >&2
    exit 1
fi
echo "start-slurm.sh: SLURM $(sinfo --version | awk '{print $2}') up: node $NODE, $CPUS CPUs, $MEM_MB MB," \
    "partition pad; export SLURM_CONF=$SLURM_CONF" >&2
[[ -n ${PAD_SLURM_READY:-} ]] && echo "$SLURM_CONF" >"$PAD_SLURM_READY"

if (($#)); then
    "$@"
elif [[ -t 0 ]]; then
    echo "start-slurm.sh: a shell with SLURM_CONF set; leave it to stop the cluster" >&2
    "${SHELL:-bash}" -i
else
    sleep infinity &
    waiter=$!
    wait "$waiter"
fi
