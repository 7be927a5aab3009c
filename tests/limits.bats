#!/usr/bin/env bats
# Limits per queue (docs/DESIGN.md, Limits), enforced by the claim across
# every worker: a concurrency limit (the jobs record when they start and
# end, and no more than the limit ever overlap), a rate (the claim times
# Redis recorded: never more than N in any period), the limits shown by
# wq-queue ls, /api/v1/queues, /metrics and wq-peers --watch, and bad
# limits refused.

load helpers
load api-helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { api_teardown; }

# most_at_once FILE: the most spans ("start end" lines) that overlap.
most_at_once() {
	awk '{ print $1, 1; print $2, -1 }' "$1" | sort -n -k1,1 -k2,2n |
	    awk '{ n += $2; if (n > m) m = n } END { print m + 0 }'
}

@test "a concurrency limit holds across 4 workers of 8 slots each" {
	local spans
	spans=$(suite_dir)/spans
	: >"$spans"
	run wq-queue limit lq --concurrency 3
	assert_success
	echo "$output" | jq -e '.name == "lq" and .limits == {"concurrency":3}'
	seq 30 | wq-submit --lines --queue lq >"$(suite_dir)/ids"
	for w in w1 w2 w3 w4; do
		start "$w" wq-worker --queue lq --concurrency 8 --heartbeat 0.2 \
		    --exec "s=\$(date +%s%N); sleep 0.2; echo \"\$s \$(date +%s%N)\" >>$spans" \
		    --quiet
	done
	wq-status --wait --timeout 120 <"$(suite_dir)/ids" >/dev/null
	[ "$(wc -l <"$spans")" = 30 ]
	n=$(most_at_once "$spans")
	echo "at most $n at once"
	[ "$n" -le 3 ]
	[ "$n" -ge 2 ]
	# the check can fail: the same work without the limit overlaps more
	: >"$spans"
	wq-queue limit lq --clear
	seq 31 60 | wq-submit --lines --queue lq | wq-status --wait \
	    --timeout 120 >/dev/null
	[ "$(most_at_once "$spans")" -gt 3 ]
}

@test "a rate of 50/s: never more than 50 claims in any second, all run" {
	local starts
	wq-queue limit rq --rate 50/s
	seq 150 | wq-submit --lines --queue rq >"$(suite_dir)/ids"
	for w in w1 w2 w3 w4; do
		start "$w" wq-worker --queue rq --concurrency 8 --heartbeat 0.2 \
		    --sleep 0 --quiet
	done
	wq-status --wait --timeout 120 <"$(suite_dir)/ids" >"$(suite_dir)/recs"
	[ "$(jq -r .status "$(suite_dir)/recs" | sort | uniq -c | awk '{ print $1, $2 }')" = "150 worked" ]
	# Redis's clock at each claim: the 51st after any claim is a second
	# or more later
	starts=$(jq -r .started_at "$(suite_dir)/recs" | sort -n | paste -sd' ')
	run python3 -c '
import sys
s = [int(x) for x in sys.argv[1].split()]
bad = [i for i in range(len(s) - 50) if s[i + 50] - s[i] < 1000]
# the windows the claims took: from the first to a second after the last
print("%d claims in %d ms: %.1f/s, %d windows over 50" % (len(s),
    s[-1] - s[0] + 1000, len(s) * 1000 / (s[-1] - s[0] + 1000), len(bad)))
sys.exit(1 if bad else 0)' "$starts"
	echo "$output"
	assert_success
}

@test "limits shown by wq-queue ls, /api/v1/queues, /metrics, wq-peers --watch" {
	wq-queue limit q1 --concurrency 5 --rate 100/10s
	wq-queue limit q1 --concurrency 4
	run wq-queue ls
	assert_output --partial '"limits":{"concurrency":4,"rate":100,"period_ms":10000}'
	api_start api
	http GET "$(api_url api)/api/v1/queues"
	echo "$body" | jq -e '.q1.limits == {"concurrency":4,"rate":100,"period_ms":10000}'
	http GET "$(api_url api)/metrics"
	echo "$body" | grep -qx 'wq_queue_limit{queue="q1",kind="concurrency"} 4'
	echo "$body" | grep -qx 'wq_queue_limit{queue="q1",kind="rate"} 100'
	echo "$body" | grep -qx 'wq_queue_limit{queue="q1",kind="period_ms"} 10000'
	# the monitor's queue table, on a terminal
	wq-queue limit q2 --rate 5/m
	script -qec "timeout 3 wq-peers --watch --interval 0.3" /dev/null |
	    tr -d '\r' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' >"$(suite_dir)/screen" || true
	grep -aqE '^q1 +0 +0 +0  4 at once, 100/10000ms$' "$(suite_dir)/screen"
	grep -aqE '^q2 +0 +0 +0  5/60000ms$' "$(suite_dir)/screen"
	run wq-queue limit q1 --clear
	echo "$output" | jq -e '.name == "q1" and .limits == null'
	[ "$(rcli exists wq:limit:q1)" = 0 ]
	http GET "$(api_url api)/metrics"
	! echo "$body" | grep -q 'wq_queue_limit{queue="q1"'
}

@test "bad limits: one line, exit 2, nothing changed" {
	wq-queue limit q1 --concurrency 2
	for bad in "--concurrency 0" "--concurrency 100001" "--concurrency x" \
	    "--rate 0/s" "--rate 50" "--rate 50/fortnight" "--rate 50/5ms" \
	    "--rate 50/2d" "--rate -1/s" "--rate 99999999999999999999/s" ""; do
		# shellcheck disable=SC2086
		run wq-queue limit q1 $bad
		assert_failure 2
		[ "${#lines[@]}" -eq 1 ]
		assert_output --regexp '^wq-queue: '
	done
	run wq-queue limit 'a b' --concurrency 1
	assert_failure 2
	[ "$(rcli hgetall wq:limit:q1 | paste -sd' ')" = 'concurrency 2' ]
}
