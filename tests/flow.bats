#!/usr/bin/env bats
# Job control, part B: run later (--in, --at), priorities, dependencies
# (--after), progress (WQ_PROGRESS_FD).

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { stop_started; }

# calls NAME: the calls of command NAME in $stats (INFO commandstats).
calls() {
	local n
	n=$(echo "$stats" | sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p")
	echo "${n:-0}"
}

@test "--in 1: pending with run_at, started at its time, no polling meanwhile" {
	start w1 wq-worker --name w1 --sleep 0
	wait_for 20 eval '[ "$(rcli zscore wq:nodes w1)" -gt "$(rcli hget wq:node:w1 started_at)" ]'
	# (the record of one due in an hour, as it waits)
	id=$(wq-submit --in 1h later | jq -r .callback)
	run wq-status "$id"
	assert_output --partial '"status":"pending"'
	[ "$(wq-status "$id" | jq '.run_at - .created_at')" = 3600000 ]
	[ "$(rcli zscore wq:delayed:default "$id")" = "$(wq-status "$id" | jq .run_at)" ]
	[ "$(rcli llen wq:queue:default)" = 0 ]
	rcli config resetstat >/dev/null
	id=$(wq-submit --in 1 soon | jq -r .callback)
	run wq-status --wait --timeout 30 "$id"
	run_at=$(echo "$output" | jq .run_at)
	[ $(( run_at - $(echo "$output" | jq .created_at) )) = 1000 ]
	assert_success
	stats=$(rcli info commandstats | tr -d '\r')
	rec=$output
	started=$(echo "$rec" | jq .started_at)
	echo "# --in 1: started $(( started - run_at )) ms after run_at" >&3
	# never before its time
	[ "$started" -ge "$run_at" ]
	# while it waited, the worker beat and made a few calls for the job
	# (submit, promote on the hint and at the time, claim, complete):
	# no call a tick, whatever the time it took
	beats=$(( $(calls zadd) - 1 ))
	echo "# $(calls evalsha) script calls, $beats beats" >&3
	[ "$(calls evalsha)" -le $(( beats + 8 )) ]
	[ "$(calls rpop)" -le 2 ]
}

@test "--at: RFC 3339 and epoch seconds; a time past runs at once" {
	start w1 wq-worker --name w1 --sleep 0
	run wq-submit --at 2001-02-03T04:05:06.5+01:00 past
	assert_success
	id=$(echo "$output" | jq -r .callback)
	run wq-status --wait --timeout 30 "$id"
	assert_output --partial '"status":"worked"'
	assert_output --partial '"run_at":981169506500'
	t=$(( $(date +%s) + 3600 ))
	id=$(wq-submit --at "$t" epoch | jq -r .callback)
	[ "$(wq-status "$id" | jq .run_at)" = "${t}000" ]
	[ "$(rcli zscore wq:delayed:default "$id")" = "${t}000" ]
	id=$(echo '{"data":"j","in":"2h"}' | wq-submit --json | jq -r .callback)
	[ "$(wq-status "$id" | jq '.run_at - .created_at')" = 7200000 ]
	id=$(echo '{"data":"k","at":"2001-02-03T03:05:06Z"}' | wq-submit --json | jq -r .callback)
	[ "$(wq-status "$id" | jq .run_at)" = 981169506000 ]
	[ "$(wq-status --list delayed | wc -l)" = 2 ]
}

@test "a worker started after a job to run later runs it" {
	id=$(wq-submit --in 0.3s late-worker | jq -r .callback)
	sleep 0.5
	start w1 wq-worker --name w1 --sleep 0
	run wq-status --wait --timeout 30 "$id"
	assert_success
	assert_output --partial '"status":"worked"'
}

@test "run later, bad input: one line, exit 2, nothing queued" {
	for a in "--in -1" "--in 31d" "--in abc" "--in 5x" "--in ''" \
	    "--at yesterday" "--at 2026-13-01T00:00:00Z" \
	    "--at 2026-02-30T00:00:00Z" "--at 2026-01-01T00:00:00" \
	    "--at 2999-01-01T00:00:00Z" "--at -5" "--in 1 --at 5"; do
		run sh -c "wq-submit $a x 2>&1"
		[ "$status" = 2 ] || { echo "$a: exit $status"; false; }
		[ "$(echo "$output" | wc -l)" = 1 ]
		assert_output --regexp '^wq-submit: '
	done
	for j in '{"data":1,"in":-5}' '{"data":1,"in":"1y"}' \
	    '{"data":1,"at":true}' '{"data":1,"in":1,"at":2}' \
	    '{"data":1,"in":3000000}'; do
		run sh -c "echo '$j' | wq-submit --json 2>&1"
		[ "$status" = 2 ] || { echo "$j: exit $status"; false; }
	done
	[ "$(rcli dbsize)" = 0 ]
}

@test "--priority: higher first, FIFO among equals, queues in the worker's order" {
	for j in a0:0 b5:5 c9:9 d5:5 e0:0 f9:9 g1:1; do
		wq-submit --priority "${j#*:}" "${j%:*}" >/dev/null
	done
	echo '{"data":"h9","priority":9}' | wq-submit --json >/dev/null
	wq-submit --queue other --priority 9 z9 >/dev/null
	run wq-status --list pending
	[ "$(echo "$output" | wc -l)" = 8 ]
	refute_output --partial '^'
	[ "$(wq-status "$(echo "$output" | head -1)" | jq -r '"\(.data) \(.priority)"')" = "c9 9" ]
	[ "$(rcli llen wq:queue:default)" = 8 ]
	out=$(suite_dir)/order
	: >"$out"
	start w1 wq-worker --queue default --queue other --concurrency 1 \
	    --exec "cat >> $out; echo >> $out"
	wait_for 30 eval '[ "$(wc -l < "$out")" = 9 ]'
	[ "$(paste -sd' ' "$out")" = "c9 f9 h9 b5 d5 g1 a0 e0 z9" ]
}

@test "--priority 0 claims cost what they did: no look at the urgent jobs" {
	seq 50 | wq-submit --lines >/dev/null
	rcli config resetstat >/dev/null
	start w1 wq-worker --sleep 0
	wait_for 30 eval '[ "$(stat_of worked)" = 50 ]'
	stats=$(rcli info commandstats | tr -d '\r')
	[ "$(calls zpopmin)" = 0 ]
	[ "$(calls rpop)" -ge 1 ]
	# one urgent job: one ZPOPMIN for it
	rcli config resetstat >/dev/null
	id=$(wq-submit --priority 3 urgent | jq -r .callback)
	run wq-status --wait --timeout 30 "$id"
	assert_success
	stats=$(rcli info commandstats | tr -d '\r')
	[ "$(calls zpopmin)" = 1 ]
	[ "$(wq-status "$id" | jq .priority)" = 3 ]
}

@test "--priority out of range: one line, exit 2, nothing queued" {
	for p in 10 -1 x 1.5 ''; do
		run sh -c "wq-submit --priority '$p' x 2>&1"
		[ "$status" = 2 ] || { echo "--priority $p: exit $status"; false; }
		[ "$(echo "$output" | wc -l)" = 1 ]
	done
	for j in '{"data":1,"priority":10}' '{"data":1,"priority":-1}' \
	    '{"data":1,"priority":"high"}'; do
		run sh -c "echo '$j' | wq-submit --json 2>&1"
		[ "$status" = 2 ] || { echo "$j: exit $status"; false; }
	done
	[ "$(rcli dbsize)" = 0 ]
}

# md5id TEXT: the callback id of a job whose data (or key) is TEXT.
md5id() {
	printf '%s' "$1" | md5sum | cut -c1-32 | tr a-f A-F
}

@test "--after: a chain of 1,000 jobs runs in order" {
	python3 -c '
import hashlib, json
prev = None
for i in range(1000):
    j = {"data": "c%d" % i}
    if prev: j["after"] = prev
    prev = hashlib.md5(j["data"].encode()).hexdigest().upper()
    print(json.dumps(j))' | wq-submit --json >"$(suite_dir)/chain"
	[ "$(jq -r .status "$(suite_dir)/chain" | sort | uniq -c | awk '{print $1, $2}')" = "1000 accepted" ]
	[ "$(wq-status "$(md5id c1)" | jq -r .status)" = waiting ]
	[ "$(wq-status "$(md5id c0)" | jq -r .status)" = pending ]
	[ "$(rcli llen wq:queue:default)" = 1 ]
	start w1 wq-worker --jq . --quiet
	run wq-status --wait --timeout 120 "$(md5id c999)"
	assert_success
	# each started once its parent had ended
	jq -r .callback "$(suite_dir)/chain" | wq-status >"$(suite_dir)/recs"
	[ "$(jq -r .status "$(suite_dir)/recs" | sort -u)" = worked ]
	jq -s -e '[range(1; length) as $i | .[$i].started_at >= .[$i - 1].finished_at] | all' "$(suite_dir)/recs"
	[ "$(rcli zcard wq:deps)" = 0 ]
}

@test "--after: a diamond waits for both parents; a worked parent releases at once" {
	a=$(wq-submit A | jq -r .callback)
	b=$(wq-submit --after "$a" B | jq -r .callback)
	c=$(wq-submit --after "$a" C | jq -r .callback)
	d=$(wq-submit --after "$b" --after "$c" D | jq -r .callback)
	[ "$(wq-status "$d" | jq -c .after)" = "[\"$b\",\"$c\"]" ]
	start w1 wq-worker --concurrency 2 --exec 'sleep 0.2; cat'
	run wq-status --wait --timeout 30 "$d"
	assert_success
	recs=$(wq-status "$b" "$c" "$d")
	echo "$recs" | jq -s -e '.[2].started_at >= ([.[0].finished_at, .[1].finished_at] | max)'
	# a child of a job that has worked runs at once
	e=$(wq-submit --after "$d" E | jq -r .callback)
	run wq-status --wait --timeout 30 "$e"
	assert_output --partial '"status":"worked"'
}

@test "--after: a parent that fails fails its children, and theirs; cancelled, cancelled" {
	start w1 wq-worker --max-attempts 1 --exec 'd=$(cat); case $d in bad*) exit 3;; esac; echo ok'
	p=$(wq-submit --in 0.5 bad | jq -r .callback)
	c=$(wq-submit --after "$p" child | jq -r .callback)
	g=$(wq-submit --after "$c" grandchild | jq -r .callback)
	run wq-status --wait --timeout 30 "$g"
	assert_failure 1
	[ "$(wq-status "$p" | jq -r .status)" = failed ]
	[ "$(wq-status "$c" | jq -r '"\(.status) \(.error)"')" = "failed parent $p failed" ]
	[ "$(wq-status "$g" | jq -r '"\(.status) \(.error)"')" = "failed parent $c failed" ]
	# a child of a job that failed already fails at once
	late=$(wq-submit --after "$p" late | jq -r .callback)
	[ "$(wq-status "$late" | jq -r .status)" = failed ]
	# cancelled: the sweep tells its children
	q=$(wq-submit --in 1h later | jq -r .callback)
	k=$(wq-submit --after "$q" kid | jq -r .callback)
	wq-cancel "$q" >/dev/null
	run wq-status --wait --timeout 30 "$k"
	[ "$(wq-status "$k" | jq -r '"\(.status) \(.error)"')" = "cancelled parent $q was cancelled" ]
}

@test "--after: a worker killed between a parent and its children loses nothing" {
	# w1 may not read children:<id>, so it cannot tell the children of
	# the job it ran; it is then killed; the sweep of w2 tells them
	rcli acl setuser w1 on '>pw' '~wq:[^c]*' '~wq:cron' '&*' '+@all' >/dev/null
	p=$(wq-submit parent | jq -r .callback)
	c=$(wq-submit --after "$p" child | jq -r .callback)
	start w1 wq-worker --name w1 --redis "$(redis_url_auth w1 pw)" --jq .
	run wq-status --wait --timeout 30 "$p"
	assert_success
	wait_for 20 grep -q "children" "$(suite_dir)/w1.log"
	kill -9 "$(pid_of w1)"
	[ "$(wq-status "$c" | jq -r .status)" = waiting ]
	[ "$(rcli zrange wq:deps 0 -1)" = "p:$p" ]
	start w2 wq-worker --name w2 --jq .
	run wq-status --wait --timeout 30 "$c"
	assert_success
	assert_output --partial '"status":"worked"'
	[ "$(rcli zcard wq:deps)" = 0 ]
	rcli acl deluser w1 >/dev/null
}

@test "--after, bad input: unknown id, the job itself, not an id: exit 2, nothing queued" {
	a=$(wq-submit A | jq -r .callback)
	n=$(rcli dbsize)
	run wq-submit --after 0123456789ABCDEF0123456789ABCDEF x y
	assert_failure 2
	assert_output --partial 'unknown id'
	[ "$(echo "$output" | wc -l)" = 1 ]
	run wq-submit --after "$a" --after 0123456789ABCDEF0123456789ABCDEF x
	assert_failure 2
	run wq-submit --key k --after "$(md5id k)" x
	assert_failure 2
	assert_output --partial 'itself'
	run wq-submit --after nope x
	assert_failure 2
	run wq-submit --json "{\"data\":1,\"key\":\"s\",\"after\":[\"$(md5id s)\"]}"
	assert_failure 2
	run wq-submit --json '{"data":1,"after":[1]}'
	assert_failure 2
	[ "$(rcli dbsize)" = "$n" ]
}

@test "WQ_PROGRESS_FD: the job's progress in its record, the only descriptor it gets besides 0, 1, 2" {
	id=$(wq-submit x | jq -r .callback)
	STOP=$(suite_dir)/stop
	export STOP
	# wq-status --wait --progress: a line each time, then the record
	start s1 wq-status --wait --progress --timeout 60 "$id"
	wait_for 20 eval '[ "$(rcli pubsub numsub wq:progress | tail -1)" = 1 ]'
	# (the worker started without the descriptors bats leaves open)
	start w1 python3 -c 'import os, sys; os.closerange(3, 65536)
os.execvp(sys.argv[1], sys.argv[1:])' wq-worker --exec 'echo 10 >&$WQ_PROGRESS_FD; sleep 0.4
		echo "{\"progress\":42,\"message\":\"resizing\"}" >&$WQ_PROGRESS_FD
		echo "not progress" >&$WQ_PROGRESS_FD; echo 101 >&$WQ_PROGRESS_FD
		while [ ! -e "$STOP" ]; do sleep 0.05; done
		echo "fd=$WQ_PROGRESS_FD"; ls -l /proc/$$/fd' \
	    --log json
	wait_for 20 eval '[ "$(wq-status "$id" | jq -c .progress)" = "{\"progress\":42,\"message\":\"resizing\"}" ]'
	run wq-status "$id"
	assert_output --partial '"status":"working"'
	touch "$STOP"
	run wq-status --wait --timeout 30 "$id"
	assert_success
	# what it said last that was progress
	[ "$(echo "$output" | jq -c .progress)" = '{"progress":42,"message":"resizing"}' ]
	# its descriptors: stdin, stdout, stderr and WQ_PROGRESS_FD, a pipe
	# (and the /dev/null that dash opens for itself)
	echo "$output" | jq -r .result >"$(suite_dir)/fds"
	[ "$(head -1 "$(suite_dir)/fds")" = fd=3 ]
	[ "$(awk '$9 > 2 && $11 != "/dev/null" { print $9 }' "$(suite_dir)/fds")" = 3 ]
	awk '$9 == 3 { print $11 }' "$(suite_dir)/fds" | grep -q '^pipe:'
	wait_for 20 sh -c "! kill -0 $(pid_of s1)"
	log_of s1 >"$(suite_dir)/s1"
	[ "$(jq -c 'select(.status == null)' "$(suite_dir)/s1")" = "{\"callback\":\"$id\",\"progress\":10}
{\"callback\":\"$id\",\"progress\":42,\"message\":\"resizing\"}" ]
	[ "$(tail -1 "$(suite_dir)/s1" | jq -r .status)" = worked ]
	run wq-status --progress "$id"
	assert_failure 2
	run wq-status --wait --progress --api http://127.0.0.1:1 "$id"
	assert_failure 2
}

@test "WQ_PROGRESS_FD: rate-limited, the last value wins, fenced" {
	id=$(wq-submit y | jq -r .callback)
	rcli config resetstat >/dev/null
	start w1 wq-worker --exec 'for i in $(seq 1000); do echo $((i % 100)) >&$WQ_PROGRESS_FD; done; echo 77 >&$WQ_PROGRESS_FD; cat'
	run wq-status --wait --timeout 30 "$id"
	assert_success
	[ "$(echo "$output" | jq -c .progress)" = '{"progress":77}' ]
	stats=$(rcli info commandstats | tr -d '\r')
	# 1,001 lines, a few writes: the first, at most one a 250 ms, the last
	[ "$(calls hset)" -lt 20 ]
	# a claim taken away: its progress is not written
	rcli hset "wq:job:$id" s working w w1 a 1 >/dev/null
	rcli eval "$(sed -n '/^local P/,$p' "$BATS_TEST_DIRNAME/../lib/lua/progress.lua")" 0 wq: w2 "$id" 1 '{"progress":5}' >/dev/null
	[ "$(wq-status "$id" | jq -c .progress)" = '{"progress":77}' ]
}
