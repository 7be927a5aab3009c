#!/usr/bin/env bats
# Sentinel failover: a master, a replica and three redis-sentinel
# processes on loopback; the master is killed mid-run and the workers
# must follow the new master and go on (the peers' most common complaint
# is workers that silently stop after a failover).

load helpers

setup_file() { redis_start; }
teardown_file() {
	local d
	d=$(suite_dir)
	for f in "$d"/sent*.pid "$d"/m*.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	redis_stop
}
teardown() { stop_started; }

@test "workers follow a Sentinel failover and processing resumes" {
	dir=$(suite_dir)
	p1=$(free_port); p2=$(free_port)
	while [ "$p2" = "$p1" ]; do p2=$(free_port); done
	for n in m1:$p1 m2:$p2; do
		name=${n%%:*} port=${n##*:}
		extra=()
		[ "$name" = m2 ] && extra=(--replicaof 127.0.0.1 "$p1")
		redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
			--daemonize yes --pidfile "$dir/$name.pid" --logfile "$dir/$name.log" \
			--dir "$dir" --dbfilename "$name.rdb" \
			--repl-diskless-sync-delay 0 "${extra[@]}" >/dev/null
	done
	wait_for 20 redis-cli -p "$p1" ping
	wait_for 20 sh -c "redis-cli -p $p2 info replication | grep -q 'master_link_status:up'"
	sents=
	for i in 1 2 3; do
		sp=$(free_port)
		cat >"$dir/sent$i.conf" <<EOT
port $sp
bind 127.0.0.1
daemonize yes
pidfile $dir/sent$i.pid
logfile $dir/sent$i.log
dir $dir
sentinel monitor wqm 127.0.0.1 $p1 2
sentinel down-after-milliseconds wqm 1000
sentinel failover-timeout wqm 4000
sentinel parallel-syncs wqm 1
EOT
		redis-sentinel "$dir/sent$i.conf" >/dev/null
		wait_for 20 redis-cli -p "$sp" ping
		sents="$sents${sents:+,}127.0.0.1:$sp"
	done
	export WQ_REDIS="redis-sentinel://$sents/wqm"
	# the sentinels see each other and the replica
	wait_for 20 sh -c "redis-cli -p ${sents##*:} sentinel master wqm | grep -A1 -x num-other-sentinels | tail -1 | grep -qx 2"

	run wq-submit probe
	assert_success
	start w1 wq-worker --exec 'sleep 0.02; cat' --concurrency 2 --heartbeat 0.25 --node-timeout 2
	start w2 wq-worker --exec 'sleep 0.02; cat' --concurrency 2 --heartbeat 0.25 --node-timeout 2
	seq 400 | wq-submit --lines >/dev/null
	redis-cli -p "$p1" wait 1 2000 >/dev/null
	sleep 0.5
	kill -9 "$(cat "$dir/m1.pid")"
	# the replica becomes the master
	wait_for 30 sh -c "redis-cli -p ${sents##*:} sentinel get-master-addr-by-name wqm | grep -qx $p2"
	# all work submitted before the failover ends worked, on the new master
	wait_for 300 sh -c "[ \"\$(seq 400 | wq-submit --lines | jq -r .status | sort -u)\" = worked ]"
	# and new work after it too
	id=$(wq-submit after-failover | jq -r .callback)
	run wq-status --wait --timeout 20 "$id"
	assert_success
	assert_output --partial '"status":"worked"'
	kill -0 "$(pid_of w1)"
	kill -0 "$(pid_of w2)"
	grep -q 'connected again' "$dir/w1.log"
}

@test "a sentinel URL with no sentinel answering exits 3" {
	run wq-submit --redis "redis-sentinel://127.0.0.1:1,127.0.0.1:2/nomaster" foo
	assert_failure 3
	assert_output --partial 'sentinel'
}

@test "malformed sentinel URLs exit 2" {
	run wq-submit --redis "redis-sentinel://127.0.0.1/m" foo
	assert_failure 2
	run wq-submit --redis "redis-sentinel://127.0.0.1:26379/" foo
	assert_failure 2
}

@test "a sentinel whose answer has elements of other types: exit 3, no crash" {
	port=$(free_port)
	# answers every command with an array of two integers
	start fake python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(b"*2\r\n:1\r\n:2\r\n")
    c.close()
' "$port"
	wait_for 20 python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))"
	run wq-status --redis "redis-sentinel://127.0.0.1:$port/mymaster" ACBD18DB4CC2F85CEDEF654FCCC4A4D8
	assert_failure 3
	assert_output --partial 'does not know master mymaster'
}
