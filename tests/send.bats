#!/usr/bin/env bats
# wq-send: request and reply through inbox:<name> and reply:<id>, the
# built-in types (ping, info, drain), --on handlers, --all, --no-wait,
# timeouts, and messages to nodes that are not there.

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { stop_started; }

node() {
	local name=$1
	shift
	start "$name" wq-worker --name "$name" --heartbeat 0.2 \
		--node-timeout 2 "$@"
}

peers_are() {
	[ "$(wq-peers | jq -r .name | paste -sd' ')" = "$*" ]
}

now_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}

@test "ping answers pong with the node's info" {
	node w1 --sleep 1 --concurrency 2
	wait_for 5 peers_are w1
	run wq-send w1 ping
	assert_success
	[ "$(echo "$output" | wc -l)" = 1 ]
	echo "$output" | jq -e --argjson pid "$(pid_of w1)" '
		.from == "w1" and .type == "pong" and (.id | length) == 24
		and .body.name == "w1" and .body.pid == $pid
		and .body.role == "worker" and .body.concurrency == 2
		and .body.current == [] and (.ms | type) == "number"'
	run wq-send w1 info
	assert_success
	echo "$output" | jq -e '.type == "info" and .body.name == "w1"'
}

@test "wq-send --all ping gets one pong per live node" {
	node w1 --sleep 1
	node w2 --sleep 1
	node w3 --sleep 1
	node w4 --sleep 1
	wait_for 5 peers_are w1 w2 w3 w4
	kill -9 "$(pid_of w4)"
	wait_for 10 peers_are w1 w2 w3
	run wq-send --all ping
	assert_success
	[ "$(echo "$output" | jq -r .from | sort | paste -sd' ')" = "w1 w2 w3" ]
	[ "$(echo "$output" | jq -r .type | sort -u)" = pong ]
	# one message id for all
	[ "$(echo "$output" | jq -r .id | sort -u | wc -l)" = 1 ]
	# names from stdin: wq-peers' own output
	run sh -c 'wq-peers | wq-send - ping'
	assert_success
	[ "$(echo "$output" | jq -r .from | sort | paste -sd' ')" = "w1 w2 w3" ]
	run sh -c 'printf "w2\nw3\n" | wq-send - ping'
	[ "$(echo "$output" | jq -r .from | sort | paste -sd' ')" = "w2 w3" ]
}

@test "ping is answered well under a second while every job slot runs a 10 s job" {
	node w1 --exec 'sleep 10' --concurrency 2 --grace 0.5
	a=$(wq-submit job-a | jq -r .callback)
	b=$(wq-submit job-b | jq -r .callback)
	wait_for 5 status_is "$a" working
	wait_for 5 status_is "$b" working
	wait_for 5 eval "wq-peers | jq -e '(.current | length) == 2'"
	: >"$(suite_dir)/rtt"
	for i in $(seq 20); do
		t0=$(date +%s%N)
		out=$(wq-send --timeout 2 w1 ping)
		t1=$(date +%s%N)
		echo "$out" | jq -e '.type == "pong" and (.body.current | length) == 2' >/dev/null
		echo "$(echo "$out" | jq .ms) $(( (t1 - t0) / 1000 ))" >>"$(suite_dir)/rtt"
	done
	# in-command round trip (ms) and whole wq-send process (us)
	p50=$(sort -n "$(suite_dir)/rtt" | awk '{print $1}' | sed -n 10p)
	max=$(sort -n "$(suite_dir)/rtt" | awk '{print $1}' | tail -1)
	wall=$(sort -n -k2 "$(suite_dir)/rtt" | awk '{print $2}' | sed -n 10p)
	wallmax=$(sort -n -k2 "$(suite_dir)/rtt" | awk '{print $2}' | tail -1)
	echo "# ping with all slots busy: round trip p50 ${p50} ms, max ${max} ms; whole wq-send p50 $((wall / 1000)) ms, max $((wallmax / 1000)) ms" >&3
	# the node answers within 100 ms typically, and every time well
	# under a second, even with a whole wq-send process around it
	awk -v m="$p50" 'BEGIN { exit !(m < 100) }'
	awk -v m="$max" 'BEGIN { exit !(m < 500) }'
	[ "$wallmax" -lt 900000 ]
	# and the jobs went on
	status_is "$a" working
}

@test "a backlog of inline (--jq) work does not hold up messages or heartbeats" {
	seq 100000 | wq-submit --lines >/dev/null
	node w1 --jq . --quiet
	wait_for 10 eval '[ "$(rcli get wq:stats:worked)" -gt 0 ]'
	for i in 1 2 3 4 5; do
		out=$(wq-send --timeout 5 w1 ping)
		echo "$out" | jq -e '.type == "pong" and .ms < 500'
		wq-peers | jq -e '.beat_ago < 1'
	done
	# all of it while the backlog was there
	[ "$(rcli llen wq:queue:default)" -gt 0 ]
}

@test "--on TYPE=CMD: the body on stdin, stdout is the reply" {
	node w1 --sleep 1 --on 'upper=tr a-z A-Z' --on 'count=wc -c' \
		--on 'sum=jq -c "{sum: (.a + .b)}"'
	wait_for 5 peers_are w1
	run wq-send w1 upper 'hello, world'
	assert_success
	echo "$output" | jq -e '.from == "w1" and .type == "upper" and .body == "HELLO, WORLD"'
	# a JSON body reaches the handler as JSON; no body is empty stdin
	run wq-send --json w1 sum '{"a":2,"b":40}'
	assert_success
	echo "$output" | jq -e '.body == "{\"sum\":42}"'
	run wq-send w1 count
	echo "$output" | jq -e '.body | tonumber == 0'
}

@test "--on handlers are answered while the job slots are busy" {
	node w1 --exec 'sleep 10' --on 'echo=cat' --grace 0.5
	id=$(wq-submit long | jq -r .callback)
	wait_for 5 status_is "$id" working
	t0=$(now_ms)
	run wq-send w1 echo hi
	assert_success
	echo "$output" | jq -e '.body == "hi"'
	[ $(( $(now_ms) - t0 )) -lt 1000 ]
}

@test "a handler past --handler-timeout is killed and answers error; exit 1" {
	node w1 --sleep 1 --on 'slow=sleep 30; echo late' --handler-timeout 0.5 \
		--on 'bad=echo broken >&2; exit 3'
	wait_for 5 peers_are w1
	t0=$(now_ms)
	run wq-send --timeout 5 w1 slow
	assert_failure 1
	[ $(( $(now_ms) - t0 )) -lt 3000 ]
	echo "$output" | head -1 | jq -e '.type == "error" and (.body | test("timed out"))'
	# the handler's process group is gone
	! pgrep -f 'sleep 30; echo late' >/dev/null
	run wq-send w1 bad
	assert_failure 1
	echo "$output" | head -1 | jq -e '.type == "error" and .body == "exit status 3: broken"'
	run wq-send w1 nosuchtype
	assert_failure 1
	echo "$output" | head -1 | jq -e '.type == "error" and .body == "unknown message type"'
}

@test "drain: the worker stops claiming, finishes its job, leaves and exits 0" {
	a=$(wq-submit one | jq -r .callback)
	b=$(wq-submit two | jq -r .callback)
	node w1 --sleep 1.5
	wait_for 5 status_is "$a" working
	run wq-send w1 drain
	assert_success
	echo "$output" | jq -e --arg a "$a" '.type == "draining" and .body.running == [$a]'
	# still a member while it finishes, and says so
	run wq-send w1 ping
	assert_success
	echo "$output" | jq -e '.body.state == "draining"'
	rc=0
	wait "$(pid_of w1)" || rc=$?
	[ "$rc" = 0 ]
	status_is "$a" worked
	# it took nothing after the drain
	status_is "$b" pending
	[ "$(rcli hget wq:job:$b w)" = "" ]
	run sh -c "wq-peers --all | jq -c '{name,alive,gone}'"
	assert_output '{"name":"w1","alive":false,"gone":"left"}'
	grep -q "drain requested by send-" "$(suite_dir)/w1.log"
}

@test "--no-wait returns at once; the node reads the message but does not reply" {
	node w1 --sleep 1
	wait_for 5 peers_are w1
	t0=$(now_ms)
	run wq-send --no-wait w1 ping
	assert_success
	echo "$output" | jq -e '.sent == 1 and (.id | length) == 24'
	id=$(echo "$output" | jq -r .id)
	[ $(( $(now_ms) - t0 )) -lt 500 ]
	wait_for 5 eval '[ "$(rcli exists wq:inbox:w1)" = 0 ]'
	sleep 0.3
	[ "$(rcli exists wq:reply:$id)" = 0 ]
}

@test "messages to an unknown or dead node fail fast with exit 1" {
	t0=$(now_ms)
	run wq-send --timeout 5 nosuch ping
	assert_failure 1
	assert_output "wq-send: nosuch: no such node"
	[ $(( $(now_ms) - t0 )) -lt 500 ]
	node w1 --sleep 1
	wait_for 5 peers_are w1
	kill -9 "$(pid_of w1)"
	wait_for 10 sh -c '[ "$(wq-peers | wc -l)" = 0 ]'
	# not reaped yet: nobody is left to do it, and still refused at once
	[ -n "$(rcli zscore wq:nodes w1)" ]
	t0=$(now_ms)
	run wq-send --timeout 5 w1 ping
	assert_failure 1
	assert_output "wq-send: w1: the node is dead or left"
	[ $(( $(now_ms) - t0 )) -lt 500 ]
	[ "$(rcli exists wq:inbox:w1)" = 0 ]
	run wq-send --all ping
	assert_failure 1
	assert_output "wq-send: no live nodes"
}

@test "a node that does not answer in time: exit 1, and the late message is dropped" {
	node w1 --sleep 1 --node-timeout 10
	node w2 --sleep 1
	wait_for 5 peers_are w1 w2
	kill -STOP "$(pid_of w1)"
	t0=$(now_ms)
	run wq-send --all --timeout 1 ping
	assert_failure 1
	t=$(( $(now_ms) - t0 ))
	[ "$t" -ge 1000 ]
	[ "$t" -lt 2500 ]
	[ "$(echo "$output" | grep -c '"type":"pong"')" = 1 ]
	assert_output --partial '"from":"w2"'
	assert_output --partial 'wq-send: w1 did not answer within 1 s'
	# a drain nobody waits for any more must not happen later
	run wq-send --timeout 0.5 w1 drain
	assert_failure 1
	kill -CONT "$(pid_of w1)"
	sleep 1
	kill -0 "$(pid_of w1)"
	run wq-send w1 ping
	assert_success
	echo "$output" | jq -e '.body.state == "running"'
	! grep -q drain "$(suite_dir)/w1.log"
}

@test "inboxes are bounded and expire; a dead node's inbox is deleted" {
	node w1 --sleep 1
	node w2 --sleep 1
	wait_for 5 peers_are w1 w2
	kill -STOP "$(pid_of w1)"
	for i in 1 2 3; do wq-send --no-wait w1 ping >/dev/null; done
	[ "$(rcli llen wq:inbox:w1)" = 3 ]
	ttl=$(rcli pttl wq:inbox:w1)
	[ "$ttl" -gt 0 ]
	[ "$ttl" -le 300000 ]
	rcli eval "for i = 1, 1200 do redis.call('RPUSH', KEYS[1], '{}') end return 1" 1 wq:inbox:w1 >/dev/null
	wq-send --no-wait w1 ping >/dev/null
	[ "$(rcli llen wq:inbox:w1)" = 1000 ]
	# dead: reaped by w2, and its inbox goes with it
	kill -9 "$(pid_of w1)"
	wait_for 10 sh -c '[ "$(wq-peers --all | jq -r "select(.alive == false) | .gone")" = dead ]'
	wait_for 5 eval '[ "$(rcli exists wq:inbox:w1)" = 0 ]'
	[ -z "$(rcli zscore wq:nodes w1)" ]
}

@test "usage errors exit 2 with one line" {
	run wq-send
	assert_failure 2
	run wq-send w1
	assert_failure 2
	run wq-send --all
	assert_failure 2
	run wq-send --json w1 t '{bad'
	assert_failure 2
	assert_output --partial 'wq-send: BODY:'
	run wq-send --timeout 0 w1 ping
	assert_failure 2
	run wq-send w1 ''
	assert_failure 2
	run wq-send --help
	assert_success
	assert_output --partial 'usage: wq-send'
	run wq-send --redis unix:///nonexistent.sock w1 ping
	assert_failure 3
}

@test "the design's pipeline: xargs -n1 wq-send ping puts the node last" {
	start w1 wq-worker --sleep 1 --name xa1
	start w2 wq-worker --sleep 1 --name xa2
	wait_for 10 sh -c "[ \$(wq-peers | grep -c '\"alive\":true') = 2 ]"
	run sh -c 'wq-peers | jq -r .name | xargs -n1 wq-send ping'
	assert_success
	[ "$(echo "$output" | grep -c '"type":"pong"')" = 2 ]
	# the usual order still works, and a name that is no node is refused
	run wq-send xa1 ping
	assert_success
	run wq-send ping nosuchnode
	assert_failure 1
}
