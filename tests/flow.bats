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
	rcli config resetstat >/dev/null
	id=$(wq-submit --in 1 later | jq -r .callback)
	run wq-status "$id"
	assert_output --partial '"status":"pending"'
	run_at=$(wq-status "$id" | jq .run_at)
	created=$(wq-status "$id" | jq .created_at)
	[ $(( run_at - created )) = 1000 ]
	[ "$(rcli zscore wq:delayed:default "$id")" = "$run_at" ]
	[ "$(rcli llen wq:queue:default)" = 0 ]
	run wq-status --wait --timeout 30 "$id"
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
