#!/usr/bin/env bats
# Job control: wq-cancel, wq-retry, wq-queue (docs/DESIGN.md, Job control).

load helpers
load api-helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { api_teardown; }

# A sleep no other test runs, to find it among the processes.
STUCK="301.$(( $$ % 1000 ))"

# No dependency step is left to do.
deps_done() {
	[ "$(rcli zcard wq:deps)" = 0 ]
}

stuck_running() {
	pgrep -f "^sleep $STUCK$" >/dev/null
}

@test "wq-cancel: a pending job leaves its queue, cancelled, and never runs" {
	id=$(wq-submit foo | jq -r .callback)
	other=$(wq-submit bar | jq -r .callback)
	run wq-cancel "$id"
	assert_success
	[ "$(echo "$output" | jq -r .status)" = cancelled ]
	[ "$(echo "$output" | jq -r .callback)" = "$id" ]
	[ "$(rcli lrange wq:queue:default 0 -1)" = "$other" ]
	# final: it expires after its ttl like a finished job
	[ "$(rcli ttl "wq:job:$id")" -gt 0 ]
	start w1 wq-worker --sleep 0
	wait_for 20 status_is "$other" worked
	status_is "$id" cancelled
	# a second cancel is a negative answer that changes nothing
	run wq-cancel "$id"
	assert_failure 1
	assert_output --partial 'not cancelled: the job is cancelled'
}

@test "wq-cancel: a job of a priority leaves urgent:<q>, with a marker" {
	low=$(wq-submit low | jq -r .callback)
	id=$(wq-submit --priority 7 high | jq -r .callback)
	[ "$(rcli llen wq:queue:default)" = 2 ]
	wq-cancel "$id" >/dev/null
	[ "$(rcli zcard wq:urgent:default)" = 0 ]
	[ "$(rcli lrange wq:queue:default 0 -1)" = "$low" ]
	status_is "$id" cancelled
}

@test "wq-cancel: a job waiting for a retry leaves delayed:<q>" {
	id=$(wq-submit --max-attempts 3 x | jq -r .callback)
	rcli hset "wq:job:$id" y 99999999999999 >/dev/null
	rcli zadd wq:delayed:default 99999999999999 "$id" >/dev/null
	rcli del wq:queue:default >/dev/null
	wq-cancel "$id" >/dev/null
	[ "$(rcli zcard wq:delayed:default)" = 0 ]
	[ "$(rcli hexists "wq:job:$id" y)" = 0 ]
	status_is "$id" cancelled
}

@test "wq-cancel: a waiting job leaves its wait; its children in turn; its parent's end leaves it" {
	p=$(wq-submit parent | jq -r .callback)
	c=$(wq-submit --after "$p" child | jq -r .callback)
	g=$(wq-submit --after "$c" grandchild | jq -r .callback)
	status_is "$c" waiting
	run wq-cancel "$c"
	assert_success
	[ "$(echo "$output" | jq -r .status)" = cancelled ]
	[ "$(rcli exists "wq:wait:$c")" = 0 ]
	[ "$(rcli ttl "wq:job:$c")" -gt 0 ]
	# the parent works after the cancel: the child stays as it is
	start w1 wq-worker --jq .
	run wq-status --wait --timeout 30 "$g"
	assert_failure 1
	[ "$(wq-status "$g" | jq -r '"\(.status) \(.error)"')" = "cancelled parent $c was cancelled" ]
	wait_for 20 status_is "$p" worked
	wait_for 20 deps_done
	wq-status "$c" | jq -e '.status == "cancelled" and (.error | startswith("cancelled by ")) and .started_at == null'
	[ "$(rcli llen wq:queue:default)" = 0 ]
}

@test "wq-cancel: a working job is killed with its process group; its late result is dropped" {
	id=$(wq-submit slow | jq -r .callback)
	start w1 wq-worker --exec "sleep $STUCK & sleep $STUCK; echo done"
	wait_for 20 stuck_running
	status_is "$id" working
	run wq-cancel "$id"
	assert_success
	[ "$(echo "$output" | jq -r .status)" = cancelled ]
	# both sleeps are killed by the worker told through its inbox
	wait_for 20 eval '! stuck_running'
	wait_for 20 grep -q "job $id cancelled by" "$(suite_dir)/w1.log"
	# the failure it then records is fenced off: the record stays
	wait_for 20 grep -q "fenced" "$(suite_dir)/w1.log"
	status_is "$id" cancelled
	[ "$(rcli llen "wq:active:$(wq-peers | jq -r .name)")" = 0 ]
	run rcli hget "wq:job:$id" e
	assert_output --partial 'cancelled by cancel-'
	# and the worker lives on
	kill -0 "$(pid_of w1)"
}

# The --jq child of worker w1: its pid, when there is one alone.
jq_child() {
	local c
	c=$(pgrep -P "$(pid_of w1)") && [ "$(echo "$c" | wc -l)" = 1 ] &&
		echo "$c"
}

@test "wq-cancel: a working --jq job is stopped, its child killed; the worker goes on" {
	# a long one, one that never ends, one not begun, one to work; all
	# in the child's batch at once
	long=$(wq-submit --json '{"data":1000000000}' | jq -r .callback)
	spin=$(wq-submit --json '{"data":-1}' | jq -r .callback)
	later=$(wq-submit --json '{"data":5}' | jq -r .callback)
	ok=$(wq-submit --json '{"data":3}' | jq -r .callback)
	start w1 wq-worker --jq 'until(. == 0; . - 1)' --name jqw
	wait_for 20 status_is "$ok" working
	wait_for 20 jq_child
	first=$(jq_child)
	# not begun: marked, the child left to run the long one
	wq-cancel "$later" >/dev/null
	wait_for 20 grep -q "job $later cancelled by" "$(suite_dir)/w1.log"
	[ "$(jq_child)" = "$first" ]
	wq-send --timeout 10 jqw info | jq -e --arg l "$long" \
	    '.body.current[0] == $l'
	# running: its child is killed, the rest go to a new one
	run wq-cancel "$long"
	assert_success
	[ "$(echo "$output" | jq -r .status)" = cancelled ]
	wait_for 20 eval 'c=$(jq_child) && [ "$c" != "$first" ]'
	wait_for 20 eval 'wq-send --timeout 10 jqw info |
	    jq -e --arg s "$spin" --arg o "$ok" ".body.current == [\$s, \$o]"'
	second=$(jq_child)
	run wq-cancel "$spin"
	assert_success
	wait_for 20 status_is "$ok" worked
	wait_for 20 eval 'c=$(jq_child) && [ "$c" != "$second" ]'
	for id in "$long" "$spin" "$later"; do
		status_is "$id" cancelled
		[ "$(rcli hexists "wq:job:$id" r)" = 0 ]
	done
	run wq-status --jq .result "$ok"
	assert_output 0
	# the worker lives on and claims
	next=$(wq-submit --json '{"data":2}' | jq -r .callback)
	wait_for 20 status_is "$next" worked
	[ "$(wq-peers | jq -r .name)" = jqw ]
	[ "$(rcli llen wq:active:jqw)" = 0 ]
	run grep -c "timed out" "$(suite_dir)/w1.log"
	assert_output 0
}

@test "wq-cancel: a working --sleep job ends at once; the worker goes on" {
	id=$(wq-submit nap | jq -r .callback)
	start w1 wq-worker --sleep 300 --name sw
	wait_for 20 status_is "$id" working
	run wq-cancel "$id"
	assert_success
	wait_for 20 grep -q "job $id cancelled by" "$(suite_dir)/w1.log"
	wait_for 20 eval '[ "$(rcli llen wq:active:sw)" = 0 ]'
	wait_for 20 eval '[ "$(wq-send --timeout 10 sw info |
	    jq -c .body.current)" = "[]" ]'
	status_is "$id" cancelled
	next=$(wq-submit nap2 | jq -r .callback)
	wait_for 20 status_is "$next" working
	kill -0 "$(pid_of w1)"
}

@test "wq-cancel against completion: the first to change the record wins" {
	# jobs that end while they are being cancelled: whichever script
	# runs first decides, and a record is never both
	seq 200 | sed 's/^/race-/' | wq-submit --lines | jq -r .callback \
	    >"$(suite_dir)/ids"
	start w1 wq-worker --concurrency 4 --exec 'cat'
	wait_for 20 eval '[ "$(stat_of worked)" -gt 0 ]'
	wq-cancel <"$(suite_dir)/ids" >"$(suite_dir)/cancel.out" 2>/dev/null ||
		true
	ended() {
		[ "$(rcli llen wq:queue:default)" = 0 ] &&
		[ -z "$(wq-status <"$(suite_dir)/ids" |
		    jq -r 'select(.status == "pending" or .status == "working")')" ]
	}
	wait_for 20 ended
	wq-status <"$(suite_dir)/ids" >"$(suite_dir)/after" || true
	cancelled=$(jq -r 'select(.status == "cancelled") | .callback' \
	    "$(suite_dir)/cancel.out" | sort)
	# what wq-cancel said it cancelled is cancelled, without a result;
	# the rest worked, with one
	[ "$(jq -r 'select(.status == "cancelled" and .result == null) |
	    .callback' "$(suite_dir)/after" | sort)" = "$cancelled" ]
	[ "$(jq -r 'select(.status == "worked" and .result != null)' \
	    "$(suite_dir)/after" | jq -s length)" = \
	    $(( 200 - $(echo "$cancelled" | grep -c .) )) ]
	echo "# $(echo "$cancelled" | grep -c .) of 200 cancelled" >&3
	[ -n "$cancelled" ]
}

@test "wq-cancel against reclaim: a job of a dead node stays cancelled" {
	id=$(wq-submit orphan | jq -r .callback)
	# claimed by a node that died before it was reaped
	rcli rpop wq:queue:default >/dev/null
	rcli hset "wq:job:$id" s working w ghost a 1 m 3 >/dev/null
	rcli lpush wq:active:ghost "$id" >/dev/null
	rcli zadd wq:nodes 1 ghost >/dev/null
	wq-cancel "$id" >/dev/null
	status_is "$id" cancelled
	# the sweep reaps the node and leaves the job alone
	start w1 wq-worker --sleep 0
	wait_for 20 eval '[ -z "$(rcli zscore wq:nodes ghost)" ]'
	status_is "$id" cancelled
	[ "$(rcli llen wq:queue:default)" = 0 ]
	[ "$(stat_of reclaimed)" = 0 ]
}

@test "wq-cancel: an unknown or finished id is exit 1, nothing changed" {
	id=$(wq-submit done | jq -r .callback)
	start w1 wq-worker --sleep 0
	wait_for 20 status_is "$id" worked
	before=$(rcli hgetall "wq:job:$id")
	run wq-cancel "$id" 0123456789ABCDEF0123456789ABCDEF
	assert_failure 1
	assert_output --partial '0123456789ABCDEF0123456789ABCDEF: not found'
	assert_output --partial 'not cancelled: the job is worked'
	[ "$(rcli hgetall "wq:job:$id")" = "$before" ]
	# bad input: nothing is done, not even for the good ids before it
	id2=$(wq-submit --queue held x | jq -r .callback)
	run wq-cancel "$id2" nonsense
	assert_failure 2
	assert_output --partial 'input 2'
	status_is "$id2" pending
	# NDJSON in, as wq-submit prints it
	wq-submit --queue held x | wq-cancel >/dev/null
	status_is "$id2" cancelled
}

@test "wq-cancel wakes a waiter, which exits 1" {
	id=$(wq-submit waited | jq -r .callback)
	start s1 wq-status --wait "$id"
	wait_for 20 eval '[ "$(rcli pubsub numsub wq:done:$id | tail -1)" = 1 ]'
	wq-cancel "$id" >/dev/null
	wait_for 20 sh -c "! kill -0 $(pid_of s1)"
	wait "$(pid_of s1)" || rc=$?
	[ "${rc:-0}" = 1 ]
	run log_of s1
	assert_output --partial '"status":"cancelled"'
}

# fail_jobs N [QUEUE]: N jobs that failed for good, their ids in
# $(suite_dir)/failed.
fail_jobs() {
	seq "$1" | sed 's/^/bad-/' |
	    wq-submit --lines --max-attempts 1 --queue "${2:-default}" |
	    jq -r .callback >"$(suite_dir)/failed"
	start wf wq-worker --queue "${2:-default}" --jq 'error("bad")'
	wait_for 20 eval "[ \"\$(rcli llen wq:dead:${2:-default})\" = $1 ]"
	kill "$(pid_of wf)"
	wait_for 20 eval '[ "$(rcli zcard wq:nodes)" = 0 ]'
}

@test "wq-retry: a failed job is pending again, attempts reset, same id and data" {
	fail_jobs 1
	id=$(cat "$(suite_dir)/failed")
	before=$(wq-status "$id" || true)
	[ "$(echo "$before" | jq -r .status)" = failed ]
	run wq-retry "$id"
	assert_success
	echo "$output" | jq -e --arg id "$id" '.callback == $id and
	    .status == "pending" and .attempts == 0 and .data == "bad-1" and
	    .max_attempts == 1 and .error == null and .finished_at == null'
	[ "$(rcli llen wq:dead:default)" = 0 ]
	[ "$(rcli lrange wq:queue:default 0 -1)" = "$id" ]
	[ "$(rcli ttl "wq:job:$id")" = -1 ]
	# and it runs again, to its end
	start w1 wq-worker --exec 'echo fixed'
	wait_for 20 status_is "$id" worked
	# a job that did not fail: a negative answer that changes nothing
	run wq-retry "$id"
	assert_failure 1
	assert_output --partial 'not retried: the job is worked'
	status_is "$id" worked
}

@test "wq-retry: the same data can be submitted again once it is retried" {
	fail_jobs 1
	id=$(cat "$(suite_dir)/failed")
	# a failed record blocks a resubmission: it answers the record
	wq-submit bad-1 | jq -e '.duplicate and .status == "failed"'
	wq-retry "$id" >/dev/null
	start w1 wq-worker --exec 'echo ok'
	wait_for 20 status_is "$id" worked
}

@test "wq-status --list dead | wq-retry, and a cancelled job" {
	fail_jobs 3
	id=$(wq-submit --queue other later | jq -r .callback)
	wq-cancel "$id" >/dev/null
	run sh -c 'wq-status --list dead | wq-retry'
	assert_success
	[ "$(echo "$output" | jq -r .status | sort -u)" = pending ]
	[ "$(echo "$output" | wc -l)" = 3 ]
	[ "$(rcli llen wq:dead:default)" = 0 ]
	[ "$(rcli llen wq:queue:default)" = 3 ]
	run wq-retry "$id"
	assert_success
	status_is "$id" pending
	[ "$(rcli lrange wq:queue:other 0 -1)" = "$id" ]
	# unknown ids and bad input
	run wq-retry 0123456789ABCDEF0123456789ABCDEF
	assert_failure 1
	assert_output --partial 'not found'
	run wq-retry "$id" junk
	assert_failure 2
	run wq-retry --all "$id"
	assert_failure 2
}

@test "wq-retry --all --queue Q: the whole dead list, 500 ids to a call" {
	fail_jobs 1200 q2
	# an id whose record expired is dropped from the list silently
	rcli rpush wq:dead:q2 0123456789ABCDEF0123456789ABCDEF >/dev/null
	rcli config resetstat >/dev/null
	run wq-retry --all --queue q2
	assert_success
	[ "$(echo "$output" | jq -r .status | sort | uniq -c | awk '{print $1, $2}')" = "1200 pending" ]
	[ "$(rcli llen wq:dead:q2)" = 0 ]
	[ "$(rcli llen wq:queue:q2)" = 1200 ]
	# three calls: 500, 500, 201 ids
	calls=$(rcli info commandstats | tr -d '\r' |
	    sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
	[ "$calls" = 3 ]
	# oldest first: the first to fail is the first printed
	[ "$(echo "$output" | head -1 | jq -r .callback)" = "$(head -1 "$(suite_dir)/failed")" ]
	# nothing left: exit 0, nothing printed
	run wq-retry --all --queue q2
	assert_success
	assert_output ''
}

@test "wq-retry against a worker that still holds a late result: fenced" {
	id=$(wq-submit --max-attempts 1 late | jq -r .callback)
	start wa wq-worker --name wa --node-timeout 1 --heartbeat 0.2 \
	    --exec 'sleep 3; echo from-a'
	wait_for 20 status_is "$id" working
	# wa freezes with the job; wb reaps it: the job fails (attempts spent)
	kill -STOP "$(pid_of wa)"
	start wb wq-worker --name wb --heartbeat 0.2 --exec 'echo from-b' \
	    --queue none
	wait_for 20 status_is "$id" failed
	# retried, and run by wb
	kill "$(pid_of wb)"
	wq-retry "$id" >/dev/null
	start wc wq-worker --name wc --exec 'sleep 1; echo from-c'
	wait_for 20 status_is "$id" working
	# wa wakes with its result of the first attempt: dropped
	kill -CONT "$(pid_of wa)"
	wait_for 20 grep -q fenced "$(suite_dir)/wa.log"
	wait_for 20 status_is "$id" worked
	[ "$(rcli hget "wq:job:$id" r)" = '"from-c"' ]
}

@test "wq-queue pause: no worker claims from it, work still queues; resume" {
	start w1 wq-worker --queue q1 --queue q2 --sleep 0
	wait_for 20 eval '[ "$(rcli zcard wq:nodes)" = 1 ]'
	run wq-queue pause q1
	assert_success
	echo "$output" | jq -e '.name == "q1" and .paused == true and
	    .pending == 0 and .limits == null'
	a=$(wq-submit --queue q1 a | jq -r .callback)
	b=$(wq-submit --queue q2 b | jq -r .callback)
	wait_for 20 status_is "$b" worked
	# a worker started now does not take it either
	start w2 wq-worker --queue q1 --sleep 0
	wait_for 20 eval '[ "$(rcli zcard wq:nodes)" = 2 ]'
	sleep 0.5
	status_is "$a" pending
	run wq-queue ls
	echo "$output" | jq -s -e 'map(select(.name == "q1"))[0] |
	    .pending == 1 and .paused'
	echo "$output" | jq -s -e 'map(select(.name == "q2"))[0] |
	    .paused == false'
	wq-queue resume q1 | jq -e '.paused == false'
	wait_for 20 status_is "$a" worked
}

@test "wq-queue pause while workers are mid-claim: no claim after the pause" {
	seq 20000 | wq-submit --lines --queue busy >/dev/null
	start w1 wq-worker --queue busy --jq . --quiet
	start w2 wq-worker --queue busy --jq . --quiet
	wait_for 20 eval '[ "$(stat_of worked)" -gt 0 ]'
	wq-queue pause busy >/dev/null
	# what was claimed before the pause ends; then nothing moves
	held() {
		for n in $(wq-peers | jq -r .name); do
			rcli llen "wq:active:$n"
		done | awk '{ s += $1 } END { print s }'
	}
	wait_for 20 eval '[ "$(held)" = 0 ]'
	left=$(rcli llen wq:queue:busy)
	worked=$(stat_of worked)
	sleep 1
	[ "$(rcli llen wq:queue:busy)" = "$left" ]
	[ "$(stat_of worked)" = "$worked" ]
	echo "# $worked worked before the pause, $left left" >&3
	[ "$left" -gt 0 ]
	wq-queue resume busy >/dev/null
	wait_for 60 eval '[ "$(rcli llen wq:queue:busy)" = 0 ]'
}

@test "wq-queue purge: pending jobs cancelled in batches, refused without --yes" {
	seq 1200 | wq-submit --lines --queue p >/dev/null
	id=$(wq-submit --queue p --max-attempts 3 delayed | jq -r .callback)
	rcli lrem wq:queue:p 1 "$id" >/dev/null
	rcli hset "wq:job:$id" y 99999999999999 >/dev/null
	rcli zadd wq:delayed:p 99999999999999 "$id" >/dev/null
	other=$(wq-submit --queue o keep | jq -r .callback)
	seq 3 | sed 's/^/urgent-/' | wq-submit --lines --queue p --priority 5 \
	    >/dev/null
	run wq-queue purge p
	assert_failure 2
	assert_output --partial 'say --yes'
	[ "$(rcli llen wq:queue:p)" = 1203 ]
	waiter=$(md5id 7)
	start s1 wq-status --wait "$waiter"
	wait_for 20 eval '[ "$(rcli pubsub numsub wq:done:$waiter | tail -1)" = 1 ]'
	run wq-queue purge p --yes
	assert_success
	echo "$output" | jq -e '.name == "p" and .cancelled == 1204'
	[ "$(rcli llen wq:queue:p)" = 0 ]
	[ "$(rcli zcard wq:urgent:p)" = 0 ]
	[ "$(rcli zcard wq:delayed:p)" = 0 ]
	status_is "$id" cancelled
	status_is "$other" pending
	wait_for 20 sh -c "! kill -0 $(pid_of s1)"
	run log_of s1
	assert_output --partial '"status":"cancelled"'
	# bad input
	run wq-queue pause
	assert_failure 2
	run wq-queue frobnicate q
	assert_failure 2
	run wq-queue pause 'bad queue'
	assert_failure 2
}

@test "wq-queue pause: an idle worker's beats do not send it to claim in vain" {
	wq-queue pause q >/dev/null
	wq-submit --queue q held >/dev/null
	start mon rcli monitor
	sleep 0.3
	start w1 wq-worker --name w1 --queue q --heartbeat 0.2 --sleep 0
	# five beats, however long a loaded machine takes to give them
	wait_for 60 eval '[ "$(grep -c "\"EVALSHA\" \"[0-9a-f]*\" \"[0-9]*\" \"wq:nodes\"" "$(suite_dir)/mon.log")" -ge 5 ]'
	beats=$(grep -c '"EVALSHA" "[0-9a-f]*" "[0-9]*" "wq:nodes"' "$(suite_dir)/mon.log")
	claims=$(grep -c '"EVALSHA" "[0-9a-f]*" "[0-9]*" "wq:active:w1"' "$(suite_dir)/mon.log")
	echo "# $beats beats, $claims claims" >&3
	[ "$beats" -ge 5 ]
	# the claim of its start, none at its beats
	[ "$claims" -le 1 ]
	# resumed: it claims at once
	wq-queue resume q >/dev/null
	wait_for 20 eval '[ "$(rcli llen wq:queue:q)" = 0 ]'
}

@test "--api: wq-cancel, wq-retry by id and --all: what they print and exit through Redis" {
	fail_jobs 600 q3
	p=$(wq-submit --queue held parent | jq -r .callback)
	c=$(wq-submit --after "$p" child | jq -r .callback)
	api_start api --token s3cr3t
	api=(--api "$(api_url api)" --token s3cr3t)
	# a waiting job, cancelled through the API
	run wq-cancel "${api[@]}" "$c"
	assert_success
	echo "$output" | jq -e --arg c "$c" '.callback == $c and .status == "cancelled"'
	[ "$(rcli exists "wq:wait:$c")" = 0 ]
	# a job ended, an unknown id: exit 1, the lines of the Redis path
	u=0123456789ABCDEF0123456789ABCDEF
	run wq-cancel "${api[@]}" "$c" "$u"
	assert_failure 1
	via_api=$output
	run wq-cancel "$c" "$u"
	assert_failure 1
	[ "$output" = "$via_api" ]
	assert_output --partial "$c: not cancelled: the job is cancelled"
	assert_output --partial "$u: not found"
	run wq-retry "${api[@]}" "$c"
	assert_success
	echo "$output" | jq -e '.status == "pending"'
	run wq-retry "${api[@]}" "$c" "$u"
	assert_failure 1
	via_api=$output
	run wq-retry "$c" "$u"
	[ "$output" = "$via_api" ]
	# a whole dead list: calls of 500 until one takes fewer
	run wq-retry "${api[@]}" --all --queue q3
	assert_success
	[ "$(echo "$output" | jq -r .status | sort | uniq -c | awk '{print $1, $2}')" = "600 pending" ]
	[ "$(echo "$output" | jq -r .callback | sort)" = "$(sort "$(suite_dir)/failed")" ]
	[ "$(rcli llen wq:dead:q3)" = 0 ]
	# bad input 2, the API unreachable 3, a wrong token 2
	run wq-cancel "${api[@]}" junk
	assert_failure 2
	run wq-cancel --api "http://127.0.0.1:$(free_port)" "$c"
	assert_failure 3
	run wq-retry --api "$(api_url api)" --token wrong "$c"
	assert_failure 2
	assert_output --partial 401
	status_is "$c" pending
}

@test "--api: wq-queue ls, pause, resume, limit, purge: what it prints and exits through Redis" {
	seq 3 | wq-submit --lines --queue a >/dev/null
	wq-submit --queue b x >/dev/null
	api_start api
	api=(--api "$(api_url api)")
	run wq-queue "${api[@]}" ls
	assert_success
	[ "$output" = "$(wq-queue ls)" ]
	[ "$(echo "$output" | wc -l)" = 2 ]
	line_a() { wq-queue ls | grep '"name":"a"'; }
	run wq-queue "${api[@]}" pause a
	assert_success
	[ "$output" = "$(line_a)" ]
	echo "$output" | jq -e '.paused and .pending == 3'
	[ "$(rcli sismember wq:paused a)" = 1 ]
	run wq-queue "${api[@]}" resume a
	assert_success
	echo "$output" | jq -e '.paused == false'
	run wq-queue "${api[@]}" limit a --concurrency 2 --rate 50/s
	assert_success
	[ "$output" = "$(line_a)" ]
	echo "$output" | jq -e '.limits == {"concurrency":2,"rate":50,"period_ms":1000}'
	run wq-queue "${api[@]}" limit a --clear --rate 5/500ms
	echo "$output" | jq -e '.limits == {"rate":5,"period_ms":500}'
	run wq-queue "${api[@]}" limit a --clear
	echo "$output" | jq -e '.limits == null'
	[ "$(rcli exists wq:limit:a)" = 0 ]
	run wq-queue "${api[@]}" purge a
	assert_failure 2
	run wq-queue "${api[@]}" purge a --yes
	assert_success
	[ "$output" = '{"name":"a","cancelled":3}' ]
	[ "$(rcli llen wq:queue:b)" = 1 ]
	run wq-queue "${api[@]}" pause 'bad queue'
	assert_failure 2
	assert_output "$(wq-queue pause 'bad queue' 2>&1)"
	run wq-queue --api "http://127.0.0.1:$(free_port)" ls
	assert_failure 3
}
