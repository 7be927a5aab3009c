#!/usr/bin/env bats
# The cluster's membership: registration, heartbeats, a taken name, death
# by kill -9 and the reclaim of its jobs, a clean leave, discovery among
# many keys, what an idle node costs Redis and the sweep one node does
# for all.  Nodes run with short heartbeats so that deaths are quick.

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { stop_started; }

# node NAME [wq-worker args...]: a worker named NAME, beating every 0.2 s,
# dead after 2 s of silence.
node() {
	local name=$1
	shift
	start "$name" wq-worker --name "$name" --heartbeat 0.2 \
		--node-timeout 2 "$@"
}

# peer NAME [wq-peers args]: that node's line.  (Not jq -e over all the
# lines: jq 1.6 takes the exit status from the last line's result.)
peer() {
	local name=$1
	shift
	wq-peers "$@" | jq -c --arg n "$name" 'select(.name == $n)'
}

peers_are() {
	[ "$(wq-peers | jq -r .name | paste -sd' ')" = "$*" ]
}

now_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}

@test "three workers appear in wq-peers with the fields of a node" {
	node w1 --sleep 1 --concurrency 2 --queue a --queue b
	node w2 --sleep 1 --concurrency 3
	node w3 --sleep 1
	wait_for 10 peers_are w1 w2 w3
	host=$(hostname)
	for n in 1 2 3; do
		peer w$n | jq -e --arg host "$host" --argjson pid "$(pid_of w$n)" '
			.alive == true and .role == "worker" and .host == $host
			and .pid == $pid and .processed == 0 and .failed == 0
			and .current == [] and .state == "running"
			and (.age | type) == "number" and .age >= 0
			and (.started_at | type) == "number"
			and (.last_seen | type) == "number" and .last_seen >= .started_at
			and .beat_ago >= 0 and .beat_ago < 2
			and .timeout_ms == 2000 and (.instance == null)'
	done
	peer w1 | jq -e '.queues == ["a","b"] and .concurrency == 2'
	peer w2 | jq -e '.queues == ["default"] and .concurrency == 3'
	# running jobs show in current, then in processed
	id=$(wq-submit --queue a job1 | jq -r .callback)
	wait_for 5 eval "peer w1 | jq -e '.current == [\"$id\"]'"
	wait_for 5 eval "peer w1 | jq -e '.processed == 1 and .current == []'"
}

@test "heartbeats follow --heartbeat; --node-timeout is stored with the node" {
	node w1 --sleep 1
	wait_for 5 peers_are w1
	[ "$(rcli hget wq:node:w1 timeout_ms)" = 2000 ]
	a=$(rcli zscore wq:nodes w1)
	sleep 0.5
	b=$(rcli zscore wq:nodes w1)
	# two or three beats in 0.5 s at 0.2 s
	[ $(( b - a )) -ge 200 ]
	[ $(( b - a )) -le 600 ]
	# the default is a beat a second and a 5 s timeout
	start w2 wq-worker --name w2 --sleep 1
	wait_for 5 eval '[ "$(rcli hget wq:node:w2 timeout_ms)" = 5000 ]'
	run wq-worker --name w3 --sleep 1 --heartbeat 1 --node-timeout 1.5
	assert_failure 2
	assert_output "wq-worker: --node-timeout must be at least twice --heartbeat"
}

@test "a name a live node holds is refused: exit 2, one line" {
	node w1 --sleep 1
	wait_for 5 peers_are w1
	run wq-worker --name w1 --sleep 1
	assert_failure 2
	assert_output "wq-worker: node name w1 is taken by a live node"
	# the holder is untouched
	peers_are w1
	[ "$(wq-peers | jq .pid)" = "$(pid_of w1)" ]
}

@test "kill -9: the node leaves the list within the node timeout, its job is finished elsewhere" {
	id=$(wq-submit foo | jq -r .callback)
	node victim --sleep 1
	wait_for 5 status_is "$id" working
	[ "$(rcli hget wq:job:$id w)" = victim ]
	node rescuer --sleep 1
	wait_for 5 peers_are rescuer victim
	kill -9 "$(pid_of victim)"
	t0=$(now_ms)
	wait_for 10 peers_are rescuer
	gone=$(( $(now_ms) - t0 ))
	wait_for 10 eval "[ \"\$(rcli hget wq:job:$id w)\" = rescuer ]"
	taken=$(( $(now_ms) - t0 ))
	echo "# kill -9 -> out of wq-peers ${gone} ms, job taken by another node ${taken} ms (node timeout 2000 ms)" >&3
	[ "$gone" -le 2300 ]
	[ "$taken" -le 2600 ]
	wait_for 5 status_is "$id" worked
	[ "$(rcli hget wq:job:$id a)" = 2 ]
	[ "$(rcli get wq:stats:reclaimed)" = 1 ]
	[ "$(rcli exists wq:active:victim)" = 0 ]
	run eval "peer victim --all | jq -c '{alive,gone}'"
	assert_output '{"alive":false,"gone":"dead"}'
	# its last beat, kept when it was reaped: before its death
	peer victim --all | jq -e --argjson t0 "$t0" \
		'.last_seen <= $t0 and .gone_at - .last_seen >= 2000 and .beat_ago >= 2'
}

@test "a dead node leaves the list even with nobody left to reap it" {
	id=$(wq-submit bar | jq -r .callback)
	node w1 --sleep 30
	wait_for 5 status_is "$id" working
	kill -9 "$(pid_of w1)"
	t0=$(now_ms)
	wait_for 10 sh -c '[ "$(wq-peers | wc -l)" = 0 ]'
	[ $(( $(now_ms) - t0 )) -le 2300 ]
	# not reaped (no node is left to do it), yet shown dead
	[ -n "$(rcli zscore wq:nodes w1)" ]
	status_is "$id" working
	run sh -c "wq-peers --all | jq -c '{name,alive,gone}'"
	assert_output '{"name":"w1","alive":false,"gone":"dead"}'
	# the name is free again; taking it puts back what the dead one held
	start w1new wq-worker --name w1 --sleep 0.2
	wait_for 10 status_is "$id" worked
	[ "$(rcli hget wq:job:$id a)" = 2 ]
	[ "$(wq-peers | jq .pid)" = "$(pid_of w1new)" ]
}

@test "a clean exit deregisters at once, not after the timeout" {
	start w1 wq-worker --name w1 --sleep 1 --node-timeout 30
	node w2 --sleep 1
	wait_for 5 peers_are w1 w2
	t0=$(now_ms)
	kill -TERM "$(pid_of w1)"
	wait "$(pid_of w1)"
	peers_are w2
	[ $(( $(now_ms) - t0 )) -lt 1500 ]
	run eval "peer w1 --all | jq -c '{alive,gone}'"
	assert_output '{"alive":false,"gone":"left"}'
	[ "$(rcli exists wq:inbox:w1)" = 0 ]
}

@test "a frozen node whose name was taken meanwhile gives way, exit 2" {
	node w1 --sleep 1
	wait_for 5 peers_are w1
	old=$(pid_of w1)
	kill -STOP "$old"
	wait_for 10 sh -c '[ "$(wq-peers | wc -l)" = 0 ]'
	start w1new wq-worker --name w1 --sleep 1 --heartbeat 0.2 --node-timeout 2
	wait_for 5 sh -c "[ \"\$(wq-peers | jq .pid)\" = $(pid_of w1new) ]"
	kill -CONT "$old"
	rc=0
	wait "$old" || rc=$?
	[ "$rc" = 2 ]
	grep -q "node name w1 is taken by a live node" "$(suite_dir)/w1.log"
	# the new holder is still the member, and still beating
	sleep 0.5
	[ "$(wq-peers | jq .pid)" = "$(pid_of w1new)" ]
	wq-peers | jq -e '.beat_ago < 1'
}

@test "discovery is correct with 100,000 job keys, and never scans keys" {
	rcli eval "for i = 1, 100000 do redis.call('HSET', 'wq:job:' .. i, 's', 'worked', 'd', 'x') end return 1" 0 >/dev/null
	[ "$(rcli dbsize)" -ge 100000 ]
	node w1 --sleep 1
	node w2 --sleep 1
	node w3 --sleep 1
	wait_for 10 peers_are w1 w2 w3
	rcli config resetstat >/dev/null
	t0=$(now_ms)
	run wq-peers
	t=$(( $(now_ms) - t0 ))
	assert_success
	[ "$(echo "$output" | wc -l)" = 3 ]
	[ "$t" -lt 500 ]
	run wq-peers --all
	[ "$(echo "$output" | wc -l)" = 3 ]
	run wq-send --all ping
	assert_success
	[ "$(echo "$output" | jq -r .from | sort | paste -sd' ')" = "w1 w2 w3" ]
	run sh -c 'timeout 5 wq-peers --watch --interval 0.2 | head -2'
	[ "$(echo "$output" | jq -s 'map(.nodes | length)')" = "$(printf '[\n  3,\n  3\n]')" ]
	kill -9 "$(pid_of w3)"
	wait_for 10 peers_are w1 w2
	# everything above, and the workers' beats and reaps meanwhile
	run rcli info commandstats
	refute_output --partial cmdstat_keys
	refute_output --partial cmdstat_scan
	assert_output --partial cmdstat_zrange
}

# calls NAME: the calls of command NAME in $stats (INFO commandstats).
calls() {
	echo "$stats" | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p"
}

@test "an idle node's heartbeat is one script call of a few commands" {
	node w1 --sleep 1
	wait_for 5 peers_are w1
	# past the claim and the inbox read that follow registering
	wait_for 5 eval '[ "$(rcli zscore wq:nodes w1)" -gt "$(rcli hget wq:node:w1 started_at)" ]'
	rcli config resetstat >/dev/null
	sleep 1
	stats=$(rcli info commandstats | tr -d '\r')
	beats=$(calls evalsha)
	# five beats or so at 0.2 s, each one script call
	[ "$beats" -ge 3 ]
	[ "$beats" -le 7 ]
	total=$(echo "$stats" | grep -v -e '^cmdstat_info:' -e '^cmdstat_config' |
		sed -n 's/^cmdstat_[^:]*:calls=\([0-9]*\),.*/\1/p' |
		awk '{ s += $1 } END { print s }')
	# alone, it sweeps at every beat: ten commands a beat (were 17)
	[ "$total" -le $(( beats * 11 )) ]
	# no claim without work, no fields rewritten that did not change
	[ -z "$(calls rpop)" ]
	[ -z "$(calls hset)" ]
	# its hash still expires some time after its beats stop
	ttl=$(rcli pttl wq:node:w1)
	[ "$ttl" -gt 30000 ]
	[ "$ttl" -le 62000 ]
}

@test "one node sweeps for the cluster, a quarter of a heartbeat apart" {
	for i in 1 2 3 4 5 6 7 8; do
		start "w$i" wq-worker --name "w$i" --sleep 1 --node-timeout 2
	done
	wait_for 10 peers_are w1 w2 w3 w4 w5 w6 w7 w8
	sleep 1
	rcli config resetstat >/dev/null
	sleep 2
	stats=$(rcli info commandstats | tr -d '\r')
	# 16 beats in 2 s, at most 9 sweeps (SMEMBERS of the queues) behind
	# their 250 ms gate (nodes started together beat together: fewer)
	echo "# 2 s, 8 nodes: $(calls evalsha) beats, $(calls smembers) sweeps" >&3
	[ "$(calls evalsha)" -ge 12 ]
	[ "$(calls smembers)" -ge 1 ]
	[ "$(calls smembers)" -le 9 ]
	# yet a dead node is reaped within the node timeout and a heartbeat
	# of its last beat, as when every node swept at every beat
	kill -9 "$(pid_of w8)"
	t0=$(now_ms)
	wait_for 10 eval '[ -z "$(rcli zscore wq:nodes w8)" ]'
	t=$(( $(now_ms) - t0 ))
	echo "# kill -9 -> reaped ${t} ms (node timeout 2000 ms, heartbeat 1 s)" >&3
	[ "$t" -le 3500 ]
}

@test "the sweep promotes due retries of every queue, served or not" {
	id=$(wq-submit --queue q1 bad | jq -r .callback)
	start w1 wq-worker --name w1 --queue q1 --exec 'exit 1' --max-attempts 2 \
		--backoff 2 --heartbeat 0.2 --node-timeout 2
	wait_for 10 eval '[ "$(rcli zcard wq:delayed:q1)" = 1 ]'
	kill -TERM "$(pid_of w1)"
	wait "$(pid_of w1)"
	# a worker of another queue: its sweep moves the retry when due
	node w2 --sleep 1 --queue q2
	wait_for 10 eval '[ "$(rcli lrange wq:queue:q1 0 -1)" = "$id" ]'
	[ "$(rcli zcard wq:delayed:q1)" = 0 ]
	wq-status "$id" | jq -e '.status == "pending" and .retry_at == null'
}

@test "without their hints, work and messages are found by the next heartbeat" {
	node w1 --jq .
	wait_for 5 peers_are w1
	# a job queued and a message sent as the scripts do, without PUBLISH
	id=0123456789ABCDEF0123456789ABCDEF
	rcli hset "wq:job:$id" s pending d '"quiet"' c "$(now_ms)" >/dev/null
	rcli lpush wq:queue:default "$id" >/dev/null
	wait_for 5 status_is "$id" worked
	rcli rpush wq:inbox:w1 '{"id":"m1","from":"t","type":"ping","body":null,"reply":true}' >/dev/null
	wait_for 5 eval '[ "$(rcli llen wq:reply:m1)" = 1 ]'
	rcli lpop wq:reply:m1 | jq -e '.type == "pong" and .from == "w1"'
}
