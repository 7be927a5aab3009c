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

# beat_times NODE N: the times (Redis's clock) of N beats of NODE in a
# row, one a line, as seen by reading its score every 20 ms (a beat
# missed between two reads only makes one gap longer); 60 s at most.
beat_times() {
	local f pid end
	f="$(suite_dir)/beat-times-$1"
	rcli -r -1 -i 0.02 zscore wq:nodes "$1" \
	    >"$f" 2>/dev/null 3>&- &
	pid=$!
	end=$(( $(now_ms) + 60000 ))
	while [ "$(awk NF "$f" | uniq | wc -l)" -lt "$2" ] &&
	    [ "$(now_ms)" -lt "$end" ]; do
		sleep 0.1
	done
	kill "$pid"
	wait "$pid" || true
	awk NF "$f" | uniq | head -n "$2"
}

# gone_from_peers NAME: wait until wq-peers no longer lists NAME (20 s at
# most), checking at every read that a listing is one within the node's
# timeout of its last beat: wq-peers shows a node until its timeout has
# passed, and not after.
gone_from_peers() {
	local end line
	end=$(( $(now_ms) + 20000 ))
	while [ "$(now_ms)" -lt "$end" ]; do
		line=$(peer "$1")
		[ -z "$line" ] && return 0
		echo "$line" | jq -e '.beat_ago * 1000 <= .timeout_ms' >/dev/null || {
			echo "listed past its timeout: $line" >&2
			return 1
		}
		sleep 0.05
	done
	echo "$1 still listed after 20 s" >&2
	return 1
}

@test "three workers appear in wq-peers with the fields of a node" {
	node w1 --sleep 1 --concurrency 2 --queue a --queue b
	node w2 --sleep 1 --concurrency 3
	node w3 --sleep 1
	wait_for 20 peers_are w1 w2 w3
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
	wait_for 20 eval "peer w1 | jq -e '.current == [\"$id\"]'"
	wait_for 20 eval "peer w1 | jq -e '.processed == 1 and .current == []'"
}

@test "heartbeats follow --heartbeat; --node-timeout is stored with the node" {
	node w1 --sleep 1
	wait_for 20 peers_are w1
	[ "$(rcli hget wq:node:w1 timeout_ms)" = 2000 ]
	# twelve beats in a row; the first two may be the registration and
	# the beat right after it
	beat_times w1 12 | tail -n +3 >"$(suite_dir)/beats"
	[ "$(wc -l <"$(suite_dir)/beats")" = 10 ]
	gaps=$(awk 'NR > 1 { print $1 - p } { p = $1 }' "$(suite_dir)/beats")
	echo "gaps between beats (ms):" $gaps
	# beats 0.2 s apart, not a second (the default): on a busy machine a
	# beat can come late, yet not every one of nine; and never sooner
	# than asked, over the nine (a beat is timed from when the last
	# started, so one late call can bring the next one nearer)
	[ "$(echo "$gaps" | sort -n | head -1)" -lt 1000 ]
	[ $(( $(tail -1 "$(suite_dir)/beats") - $(head -1 "$(suite_dir)/beats") )) -ge $(( 9 * 150 )) ]
	# the default is a beat a second and a 5 s timeout
	start w2 wq-worker --name w2 --sleep 1
	wait_for 20 eval '[ "$(rcli hget wq:node:w2 timeout_ms)" = 5000 ]'
	run wq-worker --name w3 --sleep 1 --heartbeat 1 --node-timeout 1.5
	assert_failure 2
	assert_output "wq-worker: --node-timeout must be at least twice --heartbeat"
}

@test "a name a live node holds is refused: exit 2, one line" {
	node w1 --sleep 1
	wait_for 20 peers_are w1
	run wq-worker --name w1 --sleep 1
	assert_failure 2
	assert_output "wq-worker: node name w1 is taken by a live node"
	# the holder is untouched
	peers_are w1
	[ "$(wq-peers | jq .pid)" = "$(pid_of w1)" ]
}

@test "kill -9: the node leaves the list within the node timeout, its job is finished elsewhere" {
	id=$(wq-submit foo | jq -r .callback)
	node victim --sleep 60
	wait_for 20 status_is "$id" working
	[ "$(rcli hget wq:job:$id w)" = victim ]
	node rescuer --sleep 1
	wait_for 20 peers_are rescuer victim
	beats_watch beats
	kill -9 "$(pid_of victim)"
	t0=$(now_ms)
	gone_from_peers victim
	peers_are rescuer
	gone=$(( $(now_ms) - t0 ))
	wait_for 20 eval "[ \"\$(rcli hget wq:job:$id w)\" = rescuer ]"
	taken=$(( $(now_ms) - t0 ))
	echo "# kill -9 -> out of wq-peers ${gone} ms, job taken by another node ${taken} ms (node timeout 2000 ms)" >&3
	# when, by Redis's clock: its last beat, its reap, the new claim
	v=$(peer victim --all)
	last=$(echo "$v" | jq .last_seen)
	gone_at=$(echo "$v" | jq .gone_at)
	claimed=$(wq-status "$id" | jq .started_at)
	[ $(( gone_at - last )) -ge 2000 ]
	# reaped by the first beat of the rescuer past its deadline ...
	reaped_in_time "$last" 2000 "$gone_at" beats
	# ... whose answer said "work": the job was claimed in that turn,
	# before the rescuer's next beat
	[ "$claimed" -ge "$gone_at" ]
	between=$(beats_of beats rescuer | awk -v g="$gone_at" -v c="$claimed" '$2 > g && $2 < c')
	[ -z "$between" ] || { echo "beats between reap and claim: $between"; false; }
	wait_for 20 status_is "$id" worked
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
	wait_for 20 status_is "$id" working
	kill -9 "$(pid_of w1)"
	# out of the list once its timeout has passed, and not before
	gone_from_peers w1
	[ "$(wq-peers | wc -l)" = 0 ]
	peer w1 --all | jq -e '.beat_ago * 1000 > .timeout_ms'
	# not reaped (no node is left to do it), yet shown dead
	[ -n "$(rcli zscore wq:nodes w1)" ]
	status_is "$id" working
	run sh -c "wq-peers --all | jq -c '{name,alive,gone}'"
	assert_output '{"name":"w1","alive":false,"gone":"dead"}'
	# the name is free again; taking it puts back what the dead one held
	start w1new wq-worker --name w1 --sleep 0.2
	wait_for 20 status_is "$id" worked
	[ "$(rcli hget wq:job:$id a)" = 2 ]
	[ "$(wq-peers | jq .pid)" = "$(pid_of w1new)" ]
}

@test "a clean exit deregisters at once, not after the timeout" {
	start w1 wq-worker --name w1 --sleep 1 --node-timeout 30
	node w2 --sleep 1
	wait_for 20 peers_are w1 w2
	t0=$(now_ms)
	kill -TERM "$(pid_of w1)"
	wait "$(pid_of w1)"
	t1=$(now_ms)
	peers_are w2
	run eval "peer w1 --all | jq -c '{alive,gone}'"
	assert_output '{"alive":false,"gone":"left"}'
	# it left while it exited: after the signal, before its exit (not
	# reaped 30 s later)
	gone_at=$(peer w1 --all | jq .gone_at)
	[ "$gone_at" -ge "$t0" ]
	[ "$gone_at" -le "$t1" ]
	[ "$(rcli exists wq:inbox:w1)" = 0 ]
}

@test "a frozen node whose name was taken meanwhile gives way, exit 2" {
	node w1 --sleep 1
	wait_for 20 peers_are w1
	old=$(pid_of w1)
	kill -STOP "$old"
	wait_for 20 sh -c '[ "$(wq-peers | wc -l)" = 0 ]'
	start w1new wq-worker --name w1 --sleep 1 --heartbeat 0.2 --node-timeout 2
	wait_for 20 sh -c "[ \"\$(wq-peers | jq .pid)\" = $(pid_of w1new) ]"
	kill -CONT "$old"
	rc=0
	wait "$old" || rc=$?
	[ "$rc" = 2 ]
	grep -q "node name w1 is taken by a live node" "$(suite_dir)/w1.log"
	# the new holder is still the member, and still beating: a beat
	# after the old one has gone
	b=$(rcli zscore wq:nodes w1)
	wait_for 20 eval '[ "$(rcli zscore wq:nodes w1)" -gt "$b" ]'
	[ "$(wq-peers | jq .pid)" = "$(pid_of w1new)" ]
	wq-peers | jq -e '.alive'
}

@test "discovery is correct with 100,000 job keys, and never scans keys" {
	# (the keys' prefix a key of the script's, for a cluster's slot)
	rcli eval "for i = 1, 100000 do redis.call('HSET', KEYS[1] .. i, 's', 'worked', 'd', 'x') end return 1" 1 wq:job: >/dev/null
	[ "$(rcli dbsize)" -ge 100000 ]
	node w1 --sleep 1
	node w2 --sleep 1
	node w3 --sleep 1
	wait_for 20 peers_are w1 w2 w3
	rcli config resetstat >/dev/null
	t0=$(now_ms)
	run wq-peers
	t=$(( $(now_ms) - t0 ))
	stats=$(rcli info commandstats | tr -d '\r')
	assert_success
	[ "$(echo "$output" | wc -l)" = 3 ]
	echo "# wq-peers among 100,000 job keys: ${t} ms" >&3
	# what it costs Redis does not grow with the keys: fewer commands
	# than keys, the workers' beats meanwhile included (its time, which
	# depends on what else the machine does, is for bench/)
	total=$(echo "$stats" | grep -v -e '^cmdstat_info:' -e '^cmdstat_config' |
		sed -n 's/^cmdstat_[^:]*:calls=\([0-9]*\),.*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }')
	[ "$total" -lt 100000 ]
	run wq-peers --all
	[ "$(echo "$output" | wc -l)" = 3 ]
	run wq-send --all ping
	assert_success
	[ "$(echo "$output" | jq -r .from | sort | paste -sd' ')" = "w1 w2 w3" ]
	run sh -c 'timeout -k 5 60 wq-peers --watch --interval 0.2 | head -2'
	[ "$(echo "$output" | jq -s 'map(.nodes | length)')" = "$(printf '[\n  3,\n  3\n]')" ]
	kill -9 "$(pid_of w3)"
	wait_for 20 peers_are w1 w2
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
	wait_for 20 peers_are w1
	# past the claim and the inbox read that follow registering
	wait_for 20 eval '[ "$(rcli zscore wq:nodes w1)" -gt "$(rcli hget wq:node:w1 started_at)" ]'
	rcli config resetstat >/dev/null
	# five beats at least, however long a busy machine takes for them
	wait_for 30 eval 'stats=$(rcli info commandstats | tr -d "\r");
		[ "$(calls evalsha)" -ge 5 ]'
	stats=$(rcli info commandstats | tr -d '\r')
	beats=$(calls evalsha)
	# each beat one script call, and every script call a beat: as many
	# calls as the beats' ZADDs
	[ "$beats" -ge 5 ]
	[ "$(calls zadd)" = "$beats" ]
	# (not counted: INFO and CONFIG, the test's; REPLCONF, a replica's
	# acknowledgements, on a cluster)
	total=$(echo "$stats" | grep -v -e '^cmdstat_info:' -e '^cmdstat_config' \
		-e '^cmdstat_replconf:' |
		sed -n 's/^cmdstat_[^:]*:calls=\([0-9]*\),.*/\1/p' |
		awk '{ s += $1 } END { print s }')
	# alone, it sweeps at every beat: eleven commands a beat (were 17;
	# one more since the sweep looks at a queue at random rather than
	# at every queue)
	[ "$total" -le $(( beats * 12 )) ]
	# no claim without work, no fields rewritten that did not change
	[ -z "$(calls rpop)" ]
	[ -z "$(calls hset)" ]
	# its hash still expires some time after its beats stop
	ttl=$(rcli pttl wq:node:w1)
	[ "$ttl" -gt 30000 ]
	[ "$ttl" -le 62000 ]
}

@test "one node sweeps for the cluster, a quarter of a heartbeat apart" {
	# (a node timeout of 4 s: the gate is shortened to the deadline of a
	# node over 3.75 s late, which the load of a busy machine never makes)
	for i in 1 2 3 4 5 6 7 8; do
		start "w$i" wq-worker --name "w$i" --sleep 1 --node-timeout 4
	done
	wait_for 20 peers_are w1 w2 w3 w4 w5 w6 w7 w8
	sleep 1
	t0=$(redis_ms)
	rcli config resetstat >/dev/null
	# two beats of each node, however long a busy machine takes for them
	wait_for 30 eval 'stats=$(rcli info commandstats | tr -d "\r");
		[ "$(calls evalsha)" -ge 16 ]'
	stats=$(rcli info commandstats | tr -d '\r')
	t=$(( $(redis_ms) - t0 ))
	# the sweeps (each picks a queue at random: SRANDMEMBER) are 250 ms
	# apart at least, behind their gate, over the time measured: 9 in
	# 2 s where every beat swept 16 times (nodes started together beat
	# together: fewer)
	echo "# $t ms, 8 nodes: $(calls evalsha) beats, $(calls srandmember) sweeps" >&3
	[ "$(calls srandmember)" -ge 1 ]
	[ "$(calls srandmember)" -le $(( t / 250 + 1 )) ]
	# yet a dead node is reaped by the first beat of any node past its
	# deadline (the node timeout after its last beat), as when every
	# node swept at every beat
	beats_watch beats
	kill -9 "$(pid_of w8)"
	wait_for 20 eval '[ -z "$(rcli zscore wq:nodes w8)" ]'
	v=$(wq-peers --all | jq -c 'select(.name == "w8")')
	last=$(echo "$v" | jq .last_seen)
	gone_at=$(echo "$v" | jq .gone_at)
	echo "# kill -9 -> reaped $(( gone_at - last )) ms after its last beat (node timeout 4000 ms, heartbeat 1 s)" >&3
	[ "$(echo "$v" | jq -r .gone)" = dead ]
	[ $(( gone_at - last )) -ge 4000 ]
	reaped_in_time "$last" 4000 "$gone_at" beats
}

@test "the sweep promotes due retries of every queue, served or not" {
	id=$(wq-submit --queue q1 bad | jq -r .callback)
	start w1 wq-worker --name w1 --queue q1 --exec 'exit 1' --max-attempts 2 \
		--backoff 2 --heartbeat 0.2 --node-timeout 2
	wait_for 20 eval '[ "$(rcli zcard wq:delayed:q1)" = 1 ]'
	kill -TERM "$(pid_of w1)"
	wait "$(pid_of w1)"
	# a worker of another queue: its sweep moves the retry when due
	node w2 --sleep 1 --queue q2
	wait_for 20 eval '[ "$(rcli lrange wq:queue:q1 0 -1)" = "$id" ]'
	[ "$(rcli zcard wq:delayed:q1)" = 0 ]
	wq-status "$id" | jq -e '.status == "pending" and .retry_at == null'
}

@test "without their hints, work and messages are found by the next heartbeat" {
	node w1 --jq .
	wait_for 20 peers_are w1
	# a job queued and a message sent as the scripts do, without PUBLISH
	id=0123456789ABCDEF0123456789ABCDEF
	rcli hset "wq:job:$id" s pending d '"quiet"' c "$(now_ms)" >/dev/null
	rcli lpush wq:queue:default "$id" >/dev/null
	wait_for 20 status_is "$id" worked
	rcli rpush wq:inbox:w1 '{"id":"m1","from":"t","type":"ping","body":null,"reply":true}' >/dev/null
	wait_for 20 eval '[ "$(rcli llen wq:reply:m1)" = 1 ]'
	rcli lpop wq:reply:m1 | jq -e '.type == "pong" and .from == "w1"'
}
