# helpers.bash -- what every suite shares: the build's commands first on
# PATH, a private redis-server per suite (a unix socket in a temp dir,
# never port 6379), and processes started by a test stopped after it.
#
#   setup_file()    { redis_start; }
#   teardown_file() { redis_stop; }
#   setup()         { redis_flush; }
#   teardown()      { stop_started; }
#
# bats-support and bats-assert come from Debian's packages.
#
# WQ_TEST_REDIS=cluster runs a suite against a Redis Cluster instead
# (tests/run then leaves out its tests tagged standalone): the suite's
# Redis is 3 primaries and 3 replicas on loopback ports (rcluster_start),
# WQ_REDIS its redis-cluster:// URL, WQ_PARTITIONS 1 (not a cluster's
# default, 48), and rcli talks to the primary that
# holds the namespace's slot, writing the keys wq:... as wq names them on
# a cluster, {wq}:... (docs/HACKING.md, "Against a Redis Cluster").

WQ_SRCDIR=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
WQ_BUILDDIR=${WQ_BUILDDIR:-$WQ_SRCDIR}
# (tests/bin: rcli, redis-cli on the suite's Redis)
export PATH="$WQ_BUILDDIR/cmd:$WQ_SRCDIR/cmd:$WQ_SRCDIR/tests/bin:$PATH"
bats_load_library bats-support
bats_load_library bats-assert

# A fresh directory for this suite (shared by its tests): made by
# suite_dir_init in setup_file, exported so the tests see it.
suite_dir_init() {
	if [ -z "${WQ_SUITE_DIR:-}" ] || [ ! -d "$WQ_SUITE_DIR" ]; then
		WQ_SUITE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wq-test.XXXXXX")
		export WQ_SUITE_DIR
	fi
}

suite_dir() {
	echo "$WQ_SUITE_DIR"
}

# redis_start [NAME [extra redis-server args...]]: a redis-server on a
# unix socket; exports WQ_REDIS (for the first one started).  With
# WQ_TEST_REDIS=cluster the suite's Redis (NAME redis, the default) is a
# Redis Cluster instead, and takes no server arguments.
# Every server of the tests starts a replica's full sync at once
# (--repl-diskless-sync-delay 0): Redis's default waits 5 s for more
# replicas to share the transfer, 5 s of every cluster's start and of
# every replica's (re)join, and nothing a test looks at.
redis_start() {
	local name=${1:-redis} dir sock
	shift || true
	if [ "$name" = redis ] && [ "${WQ_TEST_REDIS:-}" = cluster ]; then
		redis_start_cluster "$@"
		return
	fi
	suite_dir_init
	dir=$WQ_SUITE_DIR
	sock="$dir/$name.sock"
	redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 \
		--save '' --appendonly no --daemonize yes \
		--pidfile "$dir/$name.pid" --logfile "$dir/$name.log" \
		--dir "$dir" --enable-debug-command local \
		--repl-diskless-sync-delay 0 "$@" >/dev/null
	for _ in $(seq 100); do
		[ -S "$sock" ] && redis-cli -s "$sock" ping >/dev/null 2>&1 && break
		sleep 0.05
	done
	redis-cli -s "$sock" ping >/dev/null || {
		echo "redis-server did not start: $(tail -5 "$dir/$name.log")" >&2
		return 1
	}
	if [ "$name" = redis ]; then
		export WQ_REDIS="unix://$sock"
		export WQ_TEST_SOCK="$sock"
	fi
}

# pid_gone PID: no such process, or one that has exited and waits to be
# collected (a zombie: its files and sockets are closed).  A daemon's
# parent is init, which may collect it seconds later (1.5 s here).
pid_gone() {
	local st
	kill -0 "$1" 2>/dev/null || return 0
	st=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 0
	[ "$st" = Z ]
}

# pid_reap PID PIDFILE: wait until PID is gone (after the SIGTERM sent
# to it), SIGKILL after 5 s; PIDFILE removed.  The pid is read before the
# SIGTERM, never after: redis-server removes its pidfile as it exits.
pid_reap() {
	local pid=$1
	for _ in $(seq 100); do
		pid_gone "$pid" && break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$2"
}

# redis_stop [NAME]: stop it and wait until it is gone.
redis_stop() {
	local name=${1:-redis} dir pid
	dir=$(suite_dir)
	if [ "$name" = redis ] && [ -n "${WQ_TEST_PORT:-}" ]; then
		rcluster_stop
		unset WQ_TEST_PORT WQ_TEST_PRIMARIES
		[ -n "${WQ_KEEP_SUITE_DIR:-}" ] && return 0
		stop_started
		rm -rf "$dir"
		return 0
	fi
	[ -f "$dir/$name.pid" ] || return 0
	# gone already (it removes its pidfile as it exits): nothing to stop
	if pid=$(cat "$dir/$name.pid" 2>/dev/null); then
		kill "$pid" 2>/dev/null || true
		pid_reap "$pid" "$dir/$name.pid"
	fi
	if [ "$name" = redis ] && [ -z "${WQ_KEEP_SUITE_DIR:-}" ]; then
		stop_started
		rm -rf "$dir"
	fi
}

redis_flush() {
	local p
	if [ -z "${WQ_TEST_PORT:-}" ]; then
		rcli flushall >/dev/null
		return
	fi
	for p in $WQ_TEST_PRIMARIES; do
		redis-cli -p "$p" flushall >/dev/null || return 1
	done
}

# redis_url_auth USER PASSWORD: the URL of the suite's Redis with these
# credentials (USER empty: the password alone).  On a cluster its one
# seed is the primary rcli talks to, whose CONFIG and ACL a test sets:
# the node that holds the namespace's keys too.
redis_url_auth() {
	if [ -n "${WQ_TEST_PORT:-}" ]; then
		echo "redis-cluster://$1:$2@127.0.0.1:$WQ_TEST_PORT"
	elif [ -n "$1" ]; then
		echo "unix://$WQ_TEST_SOCK?user=$1&password=$2"
	else
		echo "unix://$WQ_TEST_SOCK?password=$2"
	fi
}

# redis_start_cluster: the suite's Redis as a Redis Cluster (redis_start
# with WQ_TEST_REDIS=cluster).  Exports WQ_REDIS, WQ_TEST_PORT (the
# primary of the slot of the namespace wq), WQ_TEST_PRIMARIES and
# WQ_PARTITIONS=1.
redis_start_cluster() {
	local slot
	if [ $# -gt 0 ]; then
		echo "redis_start: server arguments ($*) on a cluster" >&2
		return 1
	fi
	rcluster_start || return 1
	WQ_TEST_PRIMARIES=$(rcluster_primaries | tr '\n' ' ')
	slot=$(redis-cli -p "${WQ_TEST_PRIMARIES%% *}" cluster keyslot wq) ||
	    return 1
	WQ_TEST_PORT=$(rcluster_slot_primary "$slot") || return 1
	# a namespace of one partition (a cluster's default is 48): the
	# suites read its keys on one primary, and limits need one
	export WQ_REDIS=$WQ_RCLUSTER_URL WQ_TEST_PORT WQ_TEST_PRIMARIES \
	    WQ_PARTITIONS=1
}

# start NAME CMD...: run a command in the background, stderr and stdout
# to $dir/NAME.log; its pid is recorded to be stopped after the test.
start() {
	local name=$1 dir
	shift
	dir=$(suite_dir)
	"$@" >"$dir/$name.log" 2>&1 3>&- &
	echo $! >>"$dir/started.pids"
	echo "$!" >"$dir/$name.pid"
}

# Stop what start() started: SIGTERM, a moment, then SIGKILL.
stop_started() {
	local dir pids
	dir=$(suite_dir)
	[ -f "$dir/started.pids" ] || return 0
	pids=$(cat "$dir/started.pids")
	rm -f "$dir/started.pids"
	for p in $pids; do
		kill -CONT "$p" 2>/dev/null || true
		kill "$p" 2>/dev/null || true
	done
	for _ in $(seq 50); do
		local alive=0
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	return 0
}

pid_of() {
	cat "$(suite_dir)/$1.pid"
}

log_of() {
	cat "$(suite_dir)/$1.log"
}

# wait_for SECONDS CMD...: retry CMD until it succeeds or time runs out.
# SECONDS is a budget against a hang, never a speed: give it room for a
# machine that is busy with other work (scripts/test-under-load).
wait_for() {
	local secs=$1 end
	shift
	end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
	while ! "$@" >/dev/null 2>&1; do
		if [ $(( $(date +%s%N) / 1000000 )) -ge $end ]; then
			echo "timed out after ${secs}s waiting for: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# wait_count TARGET STALL CMD...: wait until CMD prints a number of at
# least TARGET (a count of jobs done, say); fail if the number stays the
# same for STALL seconds.  For a batch of work, whose time depends on
# the machine: a stall is a hang, a slow machine is not.
wait_count() {
	local target=$1 stall=$2 n last=-1 since
	shift 2
	since=$(now_ms)
	while :; do
		n=$("$@" 2>/dev/null)
		n=${n:-0}
		[ "$n" -ge "$target" ] && return 0
		if [ "$n" != "$last" ]; then
			last=$n
			since=$(now_ms)
		elif [ $(( $(now_ms) - since )) -ge $(( stall * 1000 )) ]; then
			echo "stuck at $n of $target for ${stall}s: $*" >&2
			return 1
		fi
		sleep 0.2
	done
}

# stat_of NAME: the counter wq:stats:NAME (0 when unset).
stat_of() {
	local n
	n=$(rcli get "wq:stats:$1")
	echo "${n:-0}"
}

# Time, for tests that check when something happened.  No test asserts
# that something took less than N ms: the machine may be busy.  A test
# compares the times of events instead (a reap and the beats around it),
# or bounds what it waited by what it measured.  Redis's clock (TIME) is
# the one of heartbeats, gone_at and the records' times; on one machine
# it is the wall clock of now_ms.
now_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}

redis_ms() {
	rcli eval "local t = redis.call('TIME')
		return t[1] * 1000 + math.floor(t[2] / 1000)" 0
}

# beats_watch NAME: record the heartbeats of every node, as Redis keeps
# them (the scores of wq:nodes), by reading them every 20 ms into
# $(suite_dir)/NAME.log until the test ends.  beats_of NAME [NODE]: the
# beats recorded, "node ms" a line, in order of time, each once.
beats_watch() {
	start "$1" rcli -r -1 -i 0.02 eval "
		local z = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
		local o = {}
		for i = 1, #z, 2 do o[#o + 1] = z[i] .. ' ' .. z[i + 1] end
		return o" 1 wq:nodes
}

beats_of() {
	awk -v n="${2:-}" 'NF == 2 && (n == "" || $1 == n)' \
	    "$(suite_dir)/$1.log" | sort -u | sort -s -n -k2
}

# reaped_in_time LAST TIMEOUT GONE_AT WATCH: the node whose last beat was
# LAST was reaped (at GONE_AT) by the first sweep after its deadline: no
# node of the beats WATCH recorded beat after LAST + TIMEOUT without
# reaping it.  (The sweep gate never outlasts the next deadline, so every
# beat past it sweeps; 5 ms for the expiry's rounding.  The first score
# recorded of a node may be its registration, which does not sweep: not
# counted.)  The order of the events, whatever the time they took on a
# busy machine.
reaped_in_time() {
	local late
	late=$(beats_of "$4" | awk -v d=$(( $1 + $2 + 5 )) -v g="$3" \
	    'seen[$1]++ && $2 >= d && $2 < g')
	[ -z "$late" ] || {
		echo "beats after the deadline $(( $1 + $2 )) that did not reap (reaped at $3):" >&2
		echo "$late" >&2
		return 1
	}
}

# job_status ID: the status field of a record ("" when unknown).
job_status() {
	rcli hget "wq:job:$1" s
}

status_is() {
	[ "$(job_status "$1")" = "$2" ]
}

# A free TCP port on 127.0.0.1.  (python3 -S: the standard library
# alone; site's start-up cost 0.2 to 0.7 s more a call here.)
free_port() {
	python3 -S -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The callback id of string data: the MD5 of its bytes, upper-case hex.
md5id() {
	printf '%s' "$1" | md5sum | cut -c1-32 | tr a-f A-F
}

# free_ports N: N different free TCP ports on 127.0.0.1, one a line
# (all held open until all are chosen, so none comes twice).
free_ports() {
	python3 -S -c 'import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
for x in s: print(x.getsockname()[1])
for x in s: x.close()' "$1"
}

# A real Redis Cluster on loopback, for the cluster client's tests
# (tests/rcluster.bats): rcluster_start starts 3 primaries and 3
# replicas (redis-server 7, cluster-enabled, each in its own directory
# of the suite's, on private ports and private cluster bus ports), joins
# them with redis-cli --cluster create, and waits until every node says
# cluster_state:ok and every replica is in sync.  It exports
# WQ_RCLUSTER_PORTS (the six client ports) and WQ_RCLUSTER_URL
# (redis-cluster://127.0.0.1:P,... of the first three).  A node's pid is
# in $(suite_dir)/rc-PORT/pid.  rcluster_stop stops every node.
# WQ_RCLUSTER_NODE_TIMEOUT (ms, default 1000): how soon a silent
# primary counts as failed and its replica takes over.
rcluster_start() {
	local dir ports p bus i all=()
	suite_dir_init
	dir=$WQ_SUITE_DIR
	mapfile -t ports < <(free_ports 12)
	WQ_RCLUSTER_PORTS="${ports[*]:0:6}"
	export WQ_RCLUSTER_PORTS
	for i in 0 1 2 3 4 5; do
		p=${ports[$i]} bus=${ports[$((i + 6))]}
		rcluster_node_start "$p" "$bus" || return 1
		all+=("127.0.0.1:$p")
	done
	for p in $WQ_RCLUSTER_PORTS; do
		wait_for 10 redis-cli -p "$p" ping || return 1
	done
	timeout -k 5 60 redis-cli --cluster create "${all[@]}" \
		--cluster-replicas 1 --cluster-yes \
		>"$dir/rc-create.log" 2>&1 || {
		tail -5 "$dir/rc-create.log" >&2
		return 1
	}
	for p in $WQ_RCLUSTER_PORTS; do
		wait_for 30 rcluster_node_ok "$p" || return 1
	done
	WQ_RCLUSTER_URL="redis-cluster://$(echo "${all[@]:0:3}" | tr ' ' ,)"
	export WQ_RCLUSTER_URL
}

# rcluster_node_start PORT BUS: one node of it (again, after a kill: it
# rejoins with the nodes.conf it wrote, as a replica if it was failed
# over meanwhile).
rcluster_node_start() {
	local dir=$WQ_SUITE_DIR/rc-$1
	mkdir -p "$dir"
	echo "$2" >"$dir/bus"
	redis-server --port "$1" --bind 127.0.0.1 --cluster-enabled yes \
		--cluster-port "$2" \
		--cluster-config-file "$dir/nodes.conf" \
		--cluster-node-timeout "${WQ_RCLUSTER_NODE_TIMEOUT:-1000}" \
		--cluster-replica-validity-factor 0 \
		--repl-diskless-sync-delay 0 \
		--save '' --appendonly no --daemonize yes \
		--dir "$dir" --pidfile "$dir/pid" \
		--logfile "$dir/log" >/dev/null
}

# rcluster_node_ok PORT: the node sees the cluster whole; a replica is
# in sync with its primary.
rcluster_node_ok() {
	local info
	info=$(redis-cli -p "$1" cluster info) || return 1
	case $info in *cluster_state:ok*) ;; *) return 1 ;; esac
	case $info in *cluster_slots_ok:16384*) ;; *) return 1 ;; esac
	info=$(redis-cli -p "$1" info replication) || return 1
	case $info in
	*role:master*) ;;
	*master_link_status:up*) ;;
	*) return 1 ;;
	esac
}

rcluster_stop() {
	local dir p pid pids=
	dir=$(suite_dir)
	for p in ${WQ_RCLUSTER_PORTS:-}; do
		[ -f "$dir/rc-$p/pid" ] || continue
		pid=$(cat "$dir/rc-$p/pid") || continue
		pids="$pids $pid:$dir/rc-$p/pid"
		kill "$pid" 2>/dev/null || true
	done
	for p in $pids; do
		pid_reap "${p%%:*}" "${p#*:}"
	done
	return 0
}

# rcluster_flush: every primary emptied, its command counts reset (a
# test's setup).  rcluster_done: the cluster stopped and the suite's
# directory removed unless WQ_KEEP_SUITE_DIR (a suite's teardown_file).
rcluster_flush() {
	local p
	for p in $(rcluster_primaries); do
		redis-cli -p "$p" flushall >/dev/null
		redis-cli -p "$p" config resetstat >/dev/null
	done
}

rcluster_done() {
	rcluster_stop
	[ -n "${WQ_KEEP_SUITE_DIR:-}" ] || rm -rf "$(suite_dir)"
}

# submit_batches N DIR: N batches of 50 jobs each with --wait-replicas
# 1; a batch refused (Redis away: 3; too few replicas: 5) is sent again
# (the same data: the same ids) until it is acknowledged, within 90 s.
# The acknowledged ids go to DIR/acked, a batch's number to DIR/done.
submit_batches() {
	local b tries rc end=$(( $(date +%s) + 90 ))
	for b in $(seq "$1"); do
		tries=0
		while :; do
			tries=$((tries + 1))
			rc=0
			seq "$((b * 1000))" "$((b * 1000 + 49))" |
			    timeout -k 5 30 wq-submit --lines --wait-replicas 1 \
			    --wait-timeout 2000 >"$2/batch" 2>>"$2/errors" ||
			    rc=$?
			[ "$rc" -eq 0 ] && break
			echo "batch $b try $tries: exit $rc" >>"$2/errors"
			[ "$(date +%s)" -lt "$end" ] || return 1
			sleep 0.3
		done
		jq -r .callback <"$2/batch" >>"$2/acked"
		echo "$b" >>"$2/done"
	done
}

# failover_done VICTIM BUS SUBMITTER DIR WHAT: after a primary was
# killed under submit_batches (pid SUBMITTER, into DIR): the old primary
# VICTIM (cluster bus BUS) started again comes back as a replica; the
# submitter ends with its 1000 jobs acknowledged, and every one ends
# worked, the worker w1 of before the failover still running; the jobs
# run more than once (a claim the new primary never had) are counted
# and reported, not an error (WHAT: the case, for the report).
failover_done() {
	local out dups
	rcluster_node_start "$1" "$2"
	wait_for 60 sh -c "redis-cli -p $1 role 2>/dev/null | head -1 | grep -qx slave" ||
	    return 1
	wait "$3" || { tail -5 "$4/errors"; return 1; }
	[ "$(wc -l <"$4/acked")" -eq 1000 ] || return 1
	kill -0 "$(pid_of w1)" || return 1
	out=$(timeout -k 5 120 wq-status --wait <"$4/acked") || return 1
	[ "$(grep -c '"status":"worked"' <<<"$out")" -eq 1000 ] || return 1
	dups=$(jq -r 'select(.attempts > 1) | .callback' <<<"$out" | wc -l)
	echo "# $5: 1000 jobs acknowledged, all worked; $dups run more than once; $(grep -c try "$4/errors" 2>/dev/null) batches sent again" >&3
}

# rcluster_slot_primary SLOT: the client port of the primary that holds
# SLOT now, as CLUSTER NODES tells.
rcluster_slot_primary() {
	local p
	p=$(redis-cli -p "${WQ_RCLUSTER_PORTS%% *}" cluster nodes |
	    awk -v s="$1" '$3 ~ /master/ {
		for (i = 9; i <= NF; i++) {
			if ($i !~ /^[0-9]/) continue
			n = split($i, r, "-")
			if (s + 0 >= r[1] + 0 && s + 0 <= r[n] + 0) {
				sub(/@.*/, "", $2)
				sub(/.*:/, "", $2)
				print $2
				exit
			}
		}
	}')
	[ -n "$p" ] || { echo "no primary holds slot $1" >&2; return 1; }
	echo "$p"
}

# rcluster_primaries: the client ports of the nodes that are primaries
# now, one a line.
rcluster_primaries() {
	local p
	for p in $WQ_RCLUSTER_PORTS; do
		redis-cli -p "$p" role 2>/dev/null | head -1 | grep -qx master &&
		    echo "$p"
	done
	return 0
}
