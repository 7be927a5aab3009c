#!/usr/bin/env bats
# wq-worker: the life of a job, retries, timeouts, crashes, drain.

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { stop_started; }

@test "a job goes pending -> working -> worked with --sleep" {
	id=$(wq-submit foo | jq -r .callback)
	[ "$(wq-status "$id" | jq -r .status)" = pending ]
	start w1 wq-worker --sleep 2
	wait_for 20 status_is "$id" working
	run wq-status "$id"
	assert_output --partial '"status":"working"'
	assert_output --regexp '"worker":"worker-[0-9]+@'
	assert_output --partial '"attempts":1'
	wait_for 20 status_is "$id" worked
	run wq-status "$id"
	assert_success
	assert_output --partial '"status":"worked"'
	assert_output --partial '"finished_at":'
}

@test "a finished record expires after --ttl, then wq-status exits 1" {
	id=$(wq-submit --ttl 1 foo | jq -r .callback)
	start w1 wq-worker --jq .
	run wq-status --wait --timeout 5 "$id"
	assert_success
	[ "$(rcli ttl wq:job:$id)" -le 1 ]
	wait_for 20 sh -c "! wq-status $id"
	run wq-status "$id"
	assert_failure 1
	assert_output "wq-status: $id: not found"
}

@test "pending records never expire" {
	id=$(wq-submit --ttl 1 foo | jq -r .callback)
	[ "$(rcli ttl wq:job:$id)" = -1 ]
}

@test "--exec captures stdout as the result, data on stdin" {
	id=$(wq-submit 'hello world' | jq -r .callback)
	id2=$(wq-submit --json '{"data":{"n":2}}' | jq -r .callback)
	start w1 wq-worker --exec 'tr a-z A-Z'
	run wq-status --wait --timeout 10 "$id" "$id2"
	assert_success
	assert_output --partial '"result":"HELLO WORLD"'
	assert_output --partial '"result":"{\"N\":2}"'
}

@test "--jq: the result is the program's output" {
	id=$(wq-submit --json '{"data":{"a":[1,2,3]}}' | jq -r .callback)
	start w1 wq-worker --jq '.a | add'
	run wq-status --wait --timeout 10 --jq .result "$id"
	assert_success
	assert_output 6
}

@test "--jq that never ends: --timeout fails it, the node lives on" {
	spin=$(wq-submit --json '{"data":-1,"max_attempts":1}' |
	    jq -r .callback)
	ok=$(wq-submit --json '{"data":3}' | jq -r .callback)
	start w1 wq-worker --jq 'until(. == 0; . - 1)' --timeout 2 \
	    --name jqw --heartbeat 0.2 --node-timeout 1
	wait_for 20 status_is "$spin" working
	# while it spins, the node answers and is not declared dead
	run wq-send --timeout 10 jqw info
	assert_success
	assert_output --partial "\"current\":[\"$spin\""
	wait_for 30 status_is "$spin" failed
	run wq-status "$spin"
	assert_output --partial '"error":"timed out after 2 s"'
	# the rest of the batch runs in a new child
	wait_for 20 status_is "$ok" worked
	[ "$(wq-peers | jq -r .name)" = jqw ]
	assert_equal "$(grep -c fenced "$(suite_dir)/w1.log")" 0
}

@test "job data never reaches a shell" {
	id=$(wq-submit '$(touch /tmp/wq-pwned-$$); touch /tmp/wq-pwned2-$$ `id`' | jq -r .callback)
	start w1 wq-worker --exec 'cat'
	run wq-status --wait --timeout 10 --jq .result "$id"
	assert_success
	[ ! -e /tmp/wq-pwned-$$ ]
	[ ! -e /tmp/wq-pwned2-$$ ]
	assert_output --partial '$(touch'
}

@test "a job gets neither wq's Redis link nor its secrets" {
	id=$(wq-submit x | jq -r .callback)
	# (the sockets it holds: the worker's two Redis links, before)
	WQ_TOKEN=s3cret start w1 wq-worker --exec 'echo "${WQ_REDIS:-none} ${WQ_TOKEN:-none} $WQ_JOB_ID"; for f in /proc/$$/fd/*; do readlink "$f"; done | grep -c "^socket:" || true'
	wait_for 20 status_is "$id" worked
	run wq-status --jq .result "$id"
	assert_output "\"none none $id\\n0\""
}

@test "a failing command is retried with backoff, then fails into dead:<q>" {
	id=$(wq-submit bad | jq -r .callback)
	start w1 wq-worker --exec 'echo oops >&2; exit 3' --max-attempts 3 --backoff 0.2 --heartbeat 0.2 --node-timeout 1
	wait_for 20 status_is "$id" failed
	run wq-status "$id"
	assert_failure 1
	assert_output --partial '"attempts":3'
	assert_output --partial '"error":"exit status 3: oops"'
	[ "$(rcli lrange wq:dead:default 0 -1)" = "$id" ]
	[ "$(rcli zcard wq:delayed:default)" = 0 ]
	# the retries waited: each attempt started later than the last ended
	grep -c "job $id pending" "$(suite_dir)/w1.log" | grep -qx 2
	run wq-status --list dead
	assert_output --partial "\"callback\":\"$id\""
	run wq-status --list failed
	assert_output --partial "\"callback\":\"$id\""
}

@test "a retry waits in delayed:<q> with retry_at" {
	id=$(wq-submit bad | jq -r .callback)
	start w1 wq-worker --exec 'exit 1' --max-attempts 2 --backoff 30
	wait_for 20 sh -c "[ \$(rcli zcard wq:delayed:default) = 1 ]"
	run wq-status "$id"
	assert_output --partial '"status":"pending"'
	assert_output --partial '"retry_at":'
	run wq-status --list delayed
	assert_output --partial "$id"
}

# The stuck job's sleeps: their own lengths (300 s and this suite's pid,
# in ms), so that pgrep finds them and no other test's.
STUCK="300.$(( $$ % 1000 ))"

stuck_gone() {
	! pgrep -f "^sleep $STUCK$" >/dev/null
}

@test "--timeout kills a stuck command and its children" {
	id=$(wq-submit stuck | jq -r .callback)
	start w1 wq-worker --exec "sleep $STUCK & sleep $STUCK; echo never" --timeout 1 --max-attempts 1
	wait_for 20 status_is "$id" failed
	run wq-status "$id"
	assert_output --partial '"error":"timed out after 1 s"'
	# both sleeps are gone (killed, not left for their 300 s)
	wait_for 20 stuck_gone
	# (and stuck_gone sees such a sleep while it runs)
	setsid sleep "$STUCK" 3>&- &
	probe=$!
	wait_for 20 eval '! stuck_gone'
	kill "$probe"
}

@test "a job's own timeout beats the worker's" {
	id=$(wq-submit --timeout 1 --max-attempts 1 slow | jq -r .callback)
	start w1 wq-worker --exec 'sleep 30'
	wait_for 20 status_is "$id" failed
}

@test "kill -9 of a worker mid-job: another worker finishes the job" {
	id=$(wq-submit foo | jq -r .callback)
	start w1 wq-worker --sleep 30 --name victim --node-timeout 2 --heartbeat 0.5
	wait_for 20 status_is "$id" working
	[ "$(rcli hget wq:job:$id w)" = victim ]
	beats_watch beats
	kill -9 "$(pid_of w1)"
	start w2 wq-worker --sleep 0.5 --name rescuer --node-timeout 2 --heartbeat 0.5
	wait_for 20 status_is "$id" worked
	[ "$(rcli hget wq:job:$id w)" = rescuer ]
	# not taken before the victim's timeout, and taken at the first beat
	# of the rescuer past it (the order of events, not a time)
	v=$(wq-peers --all | jq -c 'select(.name == "victim")')
	last=$(echo "$v" | jq .last_seen)
	gone_at=$(echo "$v" | jq .gone_at)
	[ "$(echo "$v" | jq -r .gone)" = dead ]
	[ $(( gone_at - last )) -ge 2000 ]
	reaped_in_time "$last" 2000 "$gone_at" beats
	[ "$(wq-status "$id" | jq .started_at)" -ge "$gone_at" ]
	[ "$(rcli hget wq:job:$id a)" = 2 ]
	[ "$(rcli llen wq:active:victim)" = 0 ]
	run wq-peers
	refute_output --partial victim
}

@test "SIGTERM drains: the running job finishes, the node leaves, exit 0" {
	id=$(wq-submit foo | jq -r .callback)
	id2=$(wq-submit bar | jq -r .callback)
	start w1 wq-worker --sleep 1.5 --name drainer
	wait_for 20 status_is "$id" working
	kill -TERM "$(pid_of w1)"
	wait "$(pid_of w1)" || rc=$?
	[ "${rc:-0}" = 0 ]
	[ "$(job_status "$id")" = worked ]
	[ "$(job_status "$id2")" = pending ]
	[ "$(rcli zscore wq:nodes drainer)" = "" ]
	[ "$(rcli llen wq:queue:default)" = 1 ]
}

@test "SIGTERM past --grace hands the job back, attempt not counted" {
	id=$(wq-submit foo | jq -r .callback)
	start w1 wq-worker --exec 'sleep 30' --grace 0.5 --name giver
	wait_for 20 status_is "$id" working
	kill -TERM "$(pid_of w1)"
	wait "$(pid_of w1)" || rc=$?
	[ "${rc:-0}" = 0 ]
	[ "$(job_status "$id")" = pending ]
	[ "$(rcli hget wq:job:$id a)" = 0 ]
	[ "$(rcli lrange wq:queue:default 0 -1)" = "$id" ]
	[ "$(rcli llen wq:active:giver)" = 0 ]
}

@test "2 workers x --concurrency 4 over 5,000 jobs: all worked, none lost" {
	seq 5000 | wq-submit --lines >/dev/null
	start w1 wq-worker --exec cat --concurrency 4 --quiet
	start w2 wq-worker --exec cat --concurrency 4 --quiet
	wait_count 5000 60 stat_of worked
	[ "$(stat_of worked)" = 5000 ]
	[ "$(rcli llen wq:queue:default)" = 0 ]
	[ "$(rcli zcard wq:delayed:default)" = 0 ]
	run sh -c "seq 5000 | wq-submit --lines | jq -r .status | sort | uniq -c"
	assert_output --regexp '^ *5000 worked$'
	for n in $(rcli zrange wq:nodes 0 -1); do
		[ "$(rcli llen "wq:active:$n")" = 0 ]
	done
}

@test "seq 1000 | wq-submit --lines | wq-status --wait prints 1,000 worked records" {
	start w1 wq-worker --jq .
	start w2 wq-worker --jq .
	run sh -c 'seq 1000 | wq-submit --lines | wq-status --wait --timeout 60 | jq -r .status | sort | uniq -c'
	assert_success
	assert_output --regexp '^ *1000 worked$'
}

# hgetalls: the HGETALL calls since the last CONFIG RESETSTAT.
hgetalls() {
	local n
	n=$(rcli info commandstats | sed -n 's/^cmdstat_hgetall:calls=\([0-9]*\).*/\1/p')
	echo "${n:-0}"
}

@test "wq-status --wait blocks until the end, without polling Redis" {
	id=$(wq-submit foo | jq -r .callback)
	rcli config resetstat >/dev/null
	t0=$(now_ms)
	start s1 wq-status --wait "$id"
	# subscribed, and the record read once
	wait_for 20 eval '[ "$(rcli pubsub numsub wq:done:$id | tail -1)" = 1 ] &&
		[ "$(hgetalls)" -ge 1 ]'
	sleep 2
	calls=$(hgetalls)
	t=$(( $(now_ms) - t0 ))
	# then nothing but a check every 3 s in case a hint was lost, over
	# the time it waited (however long a busy machine made it)
	echo "# $calls reads of the record in $t ms" >&3
	[ "$calls" -ge 1 ]
	[ "$calls" -le $(( 1 + t / 3000 )) ]
	kill -0 "$(pid_of s1)"
	start w1 wq-worker --jq .
	wait_for 20 sh -c "! kill -0 $(pid_of s1)"
	run log_of s1
	assert_output --partial '"status":"worked"'
}

@test "done:<id> is published for waited jobs only" {
	for i in $(seq 50); do echo "n$i"; done | wq-submit --lines >/dev/null
	id=$(md5id n7)
	# a pattern subscriber is not counted by PUBSUB NUMSUB: it sees what
	# the workers publish without making them publish
	start spy rcli psubscribe 'wq:done:*'
	start s1 wq-status --wait "$id"
	wait_for 20 sh -c "[ \"\$(rcli pubsub numsub wq:done:$id | tail -1)\" = 1 ]"
	start w1 wq-worker --jq . --batch 16
	wait_for 20 sh -c "! kill -0 $(pid_of s1)"
	run log_of s1
	assert_output --partial '"status":"worked"'
	wait_for 20 sh -c "[ \"\$(rcli get wq:stats:worked)\" = 50 ]"
	run grep -c '^wq:done:[0-9A-F]' "$(suite_dir)/spy.log"
	assert_output 1
	run grep -A1 '^wq:done:[0-9A-F]' "$(suite_dir)/spy.log"
	assert_output "wq:done:$id
worked"
}

# ended_ids LOG: the ids the pmessages on wq:ended in a redis-cli
# psubscribe log named, one a line, sorted.
ended_ids() {
	grep -A1 -x 'wq:ended' "$1" | grep -v -x -e 'wq:ended' -e '--' |
	    tr ' ' '\n' | grep . | sort
}

@test "ended names every job a call ends, once someone follows it" {
	for i in $(seq 30); do echo "a$i"; done | wq-submit --lines >/dev/null
	# a pattern subscriber is not counted: nothing is published for it
	start spy rcli psubscribe 'wq:ended*'
	wait_for 20 sh -c "grep -q psubscribe '$(suite_dir)/spy.log'"
	start w1 wq-worker --jq 'if . == "b7" then error("no") else . end' \
	    --batch 16
	wait_for 20 sh -c "[ \"\$(rcli get wq:stats:worked)\" = 30 ]"
	[ -z "$(ended_ids "$(suite_dir)/spy.log")" ]
	# someone follows ended: every end is named once, a failure too
	start sub rcli subscribe wq:ended
	wait_for 20 sh -c "[ \"\$(rcli pubsub numsub wq:ended | tail -1)\" = 1 ]"
	for i in $(seq 50); do echo "b$i"; done |
	    wq-submit --lines --max-attempts 1 | jq -r .callback | sort \
	    >"$BATS_TEST_TMPDIR/ids"
	wait_for 20 sh -c "[ \"\$(rcli get wq:stats:worked)\" = 79 ]"
	[ "$(job_status "$(md5id b7)")" = failed ]
	spy="$(suite_dir)/spy.log"
	wait_for 20 eval '[ "$(ended_ids "$spy" | wc -l)" -ge 50 ]'
	ended_ids "$spy" | cmp - "$BATS_TEST_TMPDIR/ids"
	# a cancelled job is named as well
	id=$(wq-submit --queue nowhere c1 | jq -r .callback)
	wq-cancel "$id" >/dev/null
	wait_for 20 eval 'ended_ids "$spy" | grep -qx "$id"'
}

@test "a record keeps its times, and little else, in Redis" {
	id=$(wq-submit foo | jq -r .callback)
	start w1 wq-worker --jq '"x" + .'
	wait_for 20 status_is "$id" worked
	run wq-status "$id"
	echo "$output" | jq -e --arg id "$id" '.callback == $id and
	    .queue == "default" and .attempts == 1 and .result == "xfoo" and
	    .created_at <= .started_at and .started_at <= .finished_at and
	    (now * 1000 - .finished_at) < 60000 and (now * 1000 - .created_at) > -5000'
	# the id is not stored again inside the record, nor a default queue
	run rcli hexists "wq:job:$id" callback
	assert_output 0
	run rcli hlen "wq:job:$id"
	[ "$output" -le 10 ]
	# one-letter field names: a short record takes under 256 bytes
	run rcli memory usage "wq:job:$id"
	[ "$output" -lt 256 ]
}

@test "wq-status --wait --timeout exits 1 and prints where the job stands" {
	id=$(wq-submit foo | jq -r .callback)
	run wq-status --wait --timeout 0.5 "$id"
	assert_failure 1
	assert_output --partial 'not finished before the timeout'
	assert_output --partial '"status":"pending"'
}

@test "wq-status reads wq-submit's NDJSON and filters with --jq" {
	start w1 wq-worker --jq '. + "!"'
	run sh -c 'wq-submit a b | wq-status --wait --timeout 10 --jq "select(.data==\"b\") | .result"'
	assert_success
	assert_output '"b!"'
}

@test "bad jq programs, bad ids, bad options: exit 2" {
	run wq-worker --jq '.['
	assert_failure 2
	assert_output --regexp '^wq-worker: bad jq program'
	run wq-status --jq '.[' ACBD18DB4CC2F85CEDEF654FCCC4A4D8
	assert_failure 2
	run wq-status nothex
	assert_failure 2
	assert_output 'wq-status: input 1: not a callback id (32 hex digits)'
	run wq-worker
	assert_failure 2
	run wq-worker --sleep 1 --jq .
	assert_failure 2
	run wq-worker --sleep 1 --concurrency 0
	assert_failure 2
	run wq-status --list nonsense
	assert_failure 2
}

@test "a worker with Redis away keeps trying, then works" {
	run wq-status --redis redis://127.0.0.1:1 ACBD18DB4CC2F85CEDEF654FCCC4A4D8
	assert_failure 3
	port=$(free_port)
	start w1 wq-worker --jq . --redis "redis://127.0.0.1:$port"
	sleep 1
	kill -0 "$(pid_of w1)"
	redis_start late --port "$port" --bind 127.0.0.1
	WQ_REDIS="redis://127.0.0.1:$port" wq-submit foo >/dev/null
	wait_for 20 sh -c "[ \"\$(redis-cli -p $port hget wq:job:ACBD18DB4CC2F85CEDEF654FCCC4A4D8 s)\" = worked ]"
	redis_stop late
}

@test "queues are taken in priority order" {
	wq-submit --queue low l1 l2 >/dev/null
	wq-submit --queue high h1 h2 >/dev/null
	start w1 wq-worker --exec 'cat' --queue high --queue low
	wait_for 20 sh -c "[ \$(rcli get wq:stats:worked) = 4 ]"
	# the high jobs started before the low ones
	hi=$(wq-submit --queue high h2 | jq -r .started_at)
	lo=$(wq-submit --queue low l1 | jq -r .started_at)
	[ "$hi" -le "$lo" ]
}

@test "after a broken link, jobs claimed unknowingly are handed back" {
	start w1 wq-worker --exec cat --name rec --queue main
	wait_for 20 sh -c "[ -n \"\$(rcli zscore wq:nodes rec)\" ]"
	# a claim whose reply was lost: the job sits in the node's active
	# list, working under its name, and the node never heard of it
	id=$(wq-submit --queue side lost | jq -r .callback)
	rcli rpop wq:queue:side >/dev/null
	rcli lpush wq:active:rec "$id" >/dev/null
	rcli hset "wq:job:$id" s working w rec a 1 >/dev/null
	rcli client kill type normal >/dev/null
	wait_for 20 status_is "$id" pending
	[ "$(rcli hget wq:job:$id a)" = 0 ]
	[ "$(rcli lrange wq:queue:side 0 -1)" = "$id" ]
	[ "$(rcli llen wq:active:rec)" = 0 ]
	run log_of w1
	assert_output --partial 'handed back'
}

@test "a job's traceparent: TRACEPARENT for its command, in the log line" {
	tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
	id=$(wq-submit --traceparent "$tp" traced | jq -r .callback)
	id2=$(wq-submit plain | jq -r .callback)
	id3=$(wq-submit --traceparent "$tp" --json '{"data":3,"queue":"t"}' |
	    jq -r .callback)
	# The worker's own TRACEPARENT is no job's.
	start w1 env TRACEPARENT=00-11111111111111111111111111111111-2222222222222222-01 \
	    wq-worker --exec 'echo "[$TRACEPARENT]"' --log json
	start w2 wq-worker --queue t --sleep 0
	run wq-status --wait --timeout 10 "$id" "$id2" "$id3"
	assert_success
	[ "$(wq-status "$id" | jq -r .result)" = "[$tp]" ]
	[ "$(wq-status "$id2" | jq -r .result)" = "[]" ]
	# --log json: every line an object; the job's names its trace.
	wait_for 10 sh -c "grep -q '$id2' '$(suite_dir)/w1.log'"
	run jq -c 'select(.event == "job") | [.id, .state, .traceparent]' \
	    "$(suite_dir)/w1.log"
	assert_success
	assert_line "[\"$id\",\"worked\",\"$tp\"]"
	assert_line "[\"$id2\",\"worked\",null]"
	jq -s -e 'length >= 3 and all(has("ts") and has("node") and
	    has("event") and has("msg"))' "$(suite_dir)/w1.log"
	# The text log too.
	wait_for 10 sh -c "grep -q '$id3' '$(suite_dir)/w2.log'"
	grep -q "job $id3 worked (attempt 1) trace $tp\$" "$(suite_dir)/w2.log"
}
