#!/usr/bin/env bats
# wq-send: request and reply through inbox:<name> and reply:<id>, the
# built-in types (ping, info, drain), --on handlers, --all, --no-wait,
# timeouts, and messages to nodes that are not there.

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() {
	stop_started
	redis_stop acl
}

node() {
	local name=$1
	shift
	start "$name" wq-worker --name "$name" --heartbeat 0.2 \
		--node-timeout 2 "$@"
}

peers_are() {
	[ "$(wq-peers | jq -r .name | paste -sd' ')" = "$*" ]
}

@test "ping answers pong with the node's info" {
	node w1 --sleep 1 --concurrency 2
	wait_for 20 peers_are w1
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
	wait_for 20 peers_are w1 w2 w3 w4
	kill -9 "$(pid_of w4)"
	wait_for 20 peers_are w1 w2 w3
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

@test "ping is answered while every job slot runs a long job" {
	node w1 --exec 'sleep 120' --concurrency 2 --grace 0.5
	a=$(wq-submit job-a | jq -r .callback)
	b=$(wq-submit job-b | jq -r .callback)
	wait_for 20 status_is "$a" working
	wait_for 20 status_is "$b" working
	wait_for 20 eval "wq-peers | jq -e '(.current | length) == 2'"
	: >"$(suite_dir)/rtt"
	for i in $(seq 20); do
		t0=$(date +%s%N)
		out=$(wq-send --timeout 20 w1 ping)
		t1=$(date +%s%N)
		echo "$out" | jq -e '.type == "pong" and (.body.current | length) == 2' >/dev/null
		echo "$(echo "$out" | jq .ms) $(( (t1 - t0) / 1000 ))" >>"$(suite_dir)/rtt"
	done
	# in-command round trip (ms) and whole wq-send process (us): shown,
	# not asserted (a speed is for bench/)
	p50=$(sort -n "$(suite_dir)/rtt" | awk '{print $1}' | sed -n 10p)
	max=$(sort -n "$(suite_dir)/rtt" | awk '{print $1}' | tail -1)
	wall=$(sort -n -k2 "$(suite_dir)/rtt" | awk '{print $2}' | sed -n 10p)
	wallmax=$(sort -n -k2 "$(suite_dir)/rtt" | awk '{print $2}' | tail -1)
	echo "# ping with all slots busy: round trip p50 ${p50} ms, max ${max} ms; whole wq-send p50 $((wall / 1000)) ms, max $((wallmax / 1000)) ms" >&3
	# every pong came while both slots ran their job (it says so, and
	# the jobs still run after the twenty): the node answers beside its
	# jobs, not once a slot is free
	status_is "$a" working
	status_is "$b" working
	[ "$(rcli hget "wq:job:$a" a)" = 1 ]
	[ "$(rcli hget "wq:job:$b" a)" = 1 ]
}

@test "a backlog of inline (--jq) work does not hold up messages or heartbeats" {
	# jobs of some milliseconds each: the backlog outlasts five pings
	# and five beats however fast or loaded the machine is
	seq 20000 | wq-submit --lines >/dev/null
	node w1 --jq '. as $x | reduce range(30000) as $i (0; . + 1) | $x' \
		--quiet
	wait_for 20 eval '[ "$(rcli get wq:stats:worked)" -gt 0 ]'
	for i in 1 2 3 4 5; do
		b=$(rcli zscore wq:nodes w1)
		out=$(wq-send --timeout 20 w1 ping)
		echo "$out" | jq -e '.type == "pong"'
		echo "# ping $i amid the backlog: $(echo "$out" | jq .ms) ms" >&3
		# and a beat since the last, with the backlog still there
		wait_for 20 eval '[ "$(rcli zscore wq:nodes w1)" -gt "$b" ]'
		[ "$(rcli llen wq:queue:default)" -gt 0 ]
	done
	# all of it while the backlog was there
	[ "$(rcli llen wq:queue:default)" -gt 0 ]
}

@test "--on TYPE=CMD: the body on stdin, stdout is the reply" {
	node w1 --sleep 1 --on 'upper=tr a-z A-Z' --on 'count=wc -c' \
		--on 'sum=jq -c "{sum: (.a + .b)}"'
	wait_for 20 peers_are w1
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
	node w1 --exec 'sleep 120' --on 'echo=cat' --grace 0.5
	id=$(wq-submit long | jq -r .callback)
	wait_for 20 status_is "$id" working
	run wq-send --timeout 20 w1 echo hi
	assert_success
	echo "$output" | jq -e '.body == "hi"'
	# answered while the one slot still ran its job
	status_is "$id" working
	[ "$(rcli hget "wq:job:$id" a)" = 1 ]
}

# The slow handler: a sleep of its own (30 s and this suite's pid, in
# ms), so that pgrep finds its processes and no other test's.
LATE="sleep 30.$(( $$ % 1000 ))"

# no_late_handler: none of the slow handler's processes (its shell, its
# sleep) is left; the worker, whose arguments name it, is not one.
no_late_handler() {
	! pgrep -f "^(/bin/)?(sh -c )?$LATE" >/dev/null
}

@test "a handler past --handler-timeout is killed and answers error; exit 1" {
	node w1 --sleep 1 --on "slow=$LATE; echo late" --handler-timeout 0.5 \
		--on 'bad=echo broken >&2; exit 3'
	wait_for 20 peers_are w1
	t0=$(now_ms)
	run wq-send --timeout 30 w1 slow
	t=$(( $(now_ms) - t0 ))
	assert_failure 1
	echo "$output" | head -1 | jq -e '.type == "error" and (.body | test("timed out"))'
	# killed at its --handler-timeout of 0.5 s: not before, and before
	# the default of 5 s (which a busy machine does not make 0.5 s into)
	echo "# handler killed, answered after $t ms" >&3
	[ "$t" -ge 500 ]
	[ "$t" -lt 5000 ]
	# the handler's process group is gone (killed: it does not take the
	# 30 s it would) ...
	wait_for 20 no_late_handler
	# ... and no_late_handler does see such a handler, its shell and its
	# sleep, while they run (one started here as the worker starts it)
	setsid sh -c "$LATE; echo late" 3>&- &
	probe=$!
	wait_for 20 eval '[ "$(pgrep -c -f "^(/bin/)?(sh -c )?$LATE")" = 2 ]'
	no_late_handler || rc=$?
	kill -KILL -- "-$probe"
	[ "${rc:-0}" = 1 ]
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
	wait_for 20 status_is "$a" working
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
	wait_for 20 peers_are w1
	# (waiting for a reply, it would fail: the node sends none, and
	# wq-send would say it did not answer within its timeout)
	run wq-send --timeout 30 --no-wait w1 ping
	assert_success
	echo "$output" | jq -e '.sent == 1 and (.id | length) == 24'
	id=$(echo "$output" | jq -r .id)
	wait_for 20 eval '[ "$(rcli exists wq:inbox:w1)" = 0 ]'
	# the node takes its messages in order: once a later ping is
	# answered, the first was dealt with, and left no reply
	run wq-send --timeout 20 w1 ping
	assert_success
	[ "$(rcli exists wq:reply:$id)" = 0 ]
}

@test "messages to an unknown or dead node fail fast with exit 1" {
	# fast: refused before sending, not after waiting for a reply (which
	# would take the whole --timeout of 60 s)
	t0=$(now_ms)
	run wq-send --timeout 60 nosuch ping
	assert_failure 1
	assert_output "wq-send: nosuch: no such node"
	[ $(( $(now_ms) - t0 )) -lt 60000 ]
	node w1 --sleep 1
	wait_for 20 peers_are w1
	kill -9 "$(pid_of w1)"
	wait_for 20 sh -c '[ "$(wq-peers | wc -l)" = 0 ]'
	# not reaped yet: nobody is left to do it, and still refused at once
	[ -n "$(rcli zscore wq:nodes w1)" ]
	t0=$(now_ms)
	run wq-send --timeout 60 w1 ping
	assert_failure 1
	assert_output "wq-send: w1: the node is dead or left"
	[ $(( $(now_ms) - t0 )) -lt 60000 ]
	[ "$(rcli exists wq:inbox:w1)" = 0 ]
	run wq-send --all ping
	assert_failure 1
	assert_output "wq-send: no live nodes"
}

@test "a node that does not answer in time: exit 1, and the late message is dropped" {
	node w1 --sleep 1 --node-timeout 10
	node w2 --sleep 1
	wait_for 20 peers_are w1 w2
	kill -STOP "$(pid_of w1)"
	# it waits its --timeout of 1 s, not less, and not the default 5 s
	# (nor until w1 answers, which it cannot while stopped)
	t0=$(now_ms)
	run timeout 60 wq-send --all --timeout 1 ping
	assert_failure 1
	t=$(( $(now_ms) - t0 ))
	echo "# wq-send --timeout 1 returned after $t ms" >&3
	[ "$t" -ge 1000 ]
	[ "$t" -lt 5000 ]
	[ "$(echo "$output" | grep -c '"type":"pong"')" = 1 ]
	assert_output --partial '"from":"w2"'
	assert_output --partial 'wq-send: w1 did not answer within 1 s'
	# a drain nobody waits for any more must not happen later
	run wq-send --timeout 0.5 w1 drain
	assert_failure 1
	kill -CONT "$(pid_of w1)"
	# it takes its messages in order: this ping comes after the late
	# drain, which was dropped, not done
	run wq-send --timeout 20 w1 ping
	assert_success
	echo "$output" | jq -e '.body.state == "running"'
	kill -0 "$(pid_of w1)"
	! grep -q drain "$(suite_dir)/w1.log"
}

@test "inboxes are bounded and expire; a dead node's inbox is deleted" {
	node w1 --sleep 1
	node w2 --sleep 1
	wait_for 20 peers_are w1 w2
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
	wait_for 20 sh -c '[ "$(wq-peers --all | jq -r "select(.alive == false) | .gone")" = dead ]'
	wait_for 20 eval '[ "$(rcli exists wq:inbox:w1)" = 0 ]'
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
	wait_for 20 sh -c "[ \$(wq-peers | grep -c '\"alive\":true') = 2 ]"
	run sh -c 'wq-peers | jq -r .name | xargs -n1 wq-send ping'
	assert_success
	[ "$(echo "$output" | grep -c '"type":"pong"')" = 2 ]
	# the usual order still works, and a name that is no node is refused
	run wq-send xa1 ping
	assert_success
	run wq-send ping nosuchnode
	assert_failure 1
}

# acl_as USER PASSWORD REDIS-ARGS...: a redis-cli on the ACL server as USER.
acl_as() {
	local user=$1 pw=$2
	shift 2
	redis-cli -s "$(suite_dir)/acl.sock" --user "$user" --pass "$pw" \
	    --no-auth-warning "$@"
}

@test "the Redis ACLs of deploy/README.md: a submit-only user submits, follows its jobs, and reaches no inbox" {
	# the ACL file of the guide, with passwords, loaded by a real server
	acl="$(suite_dir)/users.acl"
	sed -n '/^```acl$/,/^```$/p' "$WQ_SRCDIR/deploy/README.md" | grep '^user ' |
	    sed 's/<submit-password>/pw-sub/; s/<node-password>/pw-node/' >"$acl"
	[ "$(grep -c '^user wq-submit \|^user wq-node ' "$acl")" = 2 ]
	redis_start acl --aclfile "$acl"
	sub="unix://$(suite_dir)/acl.sock?user=wq-submit&password=pw-sub"
	nodes="unix://$(suite_dir)/acl.sock?user=wq-node&password=pw-node"
	WQ_REDIS=$nodes start w1 wq-worker --name acl-w1 --heartbeat 0.2 \
		--node-timeout 2 --jq '"done: " + .' --on 'hello=echo hi'
	wait_for 20 eval 'WQ_REDIS=$nodes wq-peers | grep -q acl-w1'
	# the submitter submits, and follows its jobs to their end
	run env WQ_REDIS="$sub" sh -c 'wq-submit a b | wq-status --wait --timeout 60 --jq .result'
	assert_success
	assert_output "$(printf '"done: a"\n"done: b"')"
	# and may follow the channel ended, as it does with many jobs
	run timeout -k 5 2 redis-cli -s "$(suite_dir)/acl.sock" --user wq-submit \
	    --pass pw-sub --no-auth-warning subscribe wq:ended
	assert_output "$(printf 'subscribe\nwq:ended\n1')"
	# it reaches no inbox: not through wq-send, not by hand, not by a script
	for type in drain hello ping; do
		run env WQ_REDIS="$sub" wq-send --timeout 20 acl-w1 "$type"
		assert_failure
		assert_output --partial NOPERM
	done
	for cmd in "lpush wq:inbox:acl-w1 {}" "rpush wq:inbox:acl-w1 {}" \
	    "zrange wq:nodes 0 -1" "hset wq:node:acl-w1 alive 0" "del wq:active:acl-w1" \
	    "eval return(redis.call('rpush',KEYS[1],'{}')) 1 wq:inbox:acl-w1"; do
		# shellcheck disable=SC2086
		run acl_as wq-submit pw-sub $cmd
		assert_output --partial NOPERM
	done
	run acl_as wq-submit pw-sub publish wq:msg:acl-w1 x
	assert_output --partial NOPERM
	[ "$(acl_as wq-node pw-node exists wq:inbox:acl-w1)" = 0 ]
	# the nodes' user reaches it: the worker answers, and was never drained
	run env WQ_REDIS="$nodes" wq-send --timeout 20 acl-w1 ping
	assert_success
	echo "$output" | jq -e '.body.state == "running"'
	run env WQ_REDIS="$nodes" wq-send --timeout 20 acl-w1 hello
	assert_success
	echo "$output" | jq -e '.body == "hi"'
	kill -0 "$(pid_of w1)"
	run grep -c 'drain' "$(suite_dir)/w1.log"
	assert_output 0
}

@test "the sender of a drain is logged with its control characters escaped" {
	start w1 wq-worker --sleep 1 --name w1
	wait_for 20 sh -c "wq-peers | grep -q w1"
	# anyone who can write to Redis can claim any name
	rcli lpush wq:inbox:w1 '{"id":"m1","from":"x\u001b[2Jy","type":"drain","body":null,"reply":false}' >/dev/null
	wait_for 20 grep -q 'drain requested by x?\[2Jy' "$(suite_dir)/w1.log"
	! grep -q "$(printf '\033')" "$(suite_dir)/w1.log"
}
