#!/usr/bin/env bats
# Limits per queue (docs/DESIGN.md, Limits), enforced by the claim across
# every worker: a concurrency limit (the jobs record when they start and
# end, and no more than the limit ever overlap), a rate (the claim times
# Redis recorded: never more than N in any period), a concurrency per
# group (no group over K at once, and a group of 1,000 jobs queued does
# not hold up a group of 1), the limits shown by wq-queue ls,
# /api/v1/queues, /metrics and wq-peers --watch, and bad limits and
# groups refused.

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

@test "a group concurrency of 2: two groups, never more than 2 of one at once" {
	local spans
	spans=$(suite_dir)/spans
	: >"$spans"
	wq-queue limit gq --group-concurrency 2
	# each job writes its group, start and end
	{ seq 12 | sed 's/^/a/' | wq-submit --lines --queue gq --group A
	  seq 12 | sed 's/^/b/' | wq-submit --lines --queue gq --group B
	} >"$(suite_dir)/ids"
	for w in w1 w2; do
		start "$w" wq-worker --queue gq --concurrency 8 --heartbeat 0.2 \
		    --exec "s=\$(date +%s%N); sleep 0.2; echo \"\$(cat) \$s \$(date +%s%N)\" >>$spans" \
		    --quiet
	done
	wq-status --wait --timeout 120 <"$(suite_dir)/ids" >"$(suite_dir)/recs"
	[ "$(jq -r '.status + " " + .group' "$(suite_dir)/recs" | sort | uniq -c | awk '{ print $1, $2, $3 }' | paste -sd,)" = "12 worked A,12 worked B" ]
	[ "$(wc -l <"$spans")" = 24 ]
	grep '^a' "$spans" | cut -d' ' -f2- >"$spans.A"
	grep '^b' "$spans" | cut -d' ' -f2- >"$spans.B"
	cut -d' ' -f2- "$spans" >"$spans.all"
	echo "at most at once: A $(most_at_once "$spans.A"), B $(most_at_once "$spans.B"), both $(most_at_once "$spans.all")"
	[ "$(most_at_once "$spans.A")" -le 2 ]
	[ "$(most_at_once "$spans.B")" -le 2 ]
	# the limit is each group's, not the queue's: the groups overlap
	[ "$(most_at_once "$spans.all")" -gt 2 ]
	# nothing is left behind: no marker, group or running slot counted
	[ "$(rcli llen wq:queue:gq)" = 0 ]
	[ "$(rcli exists wq:groups:gq wq:group:gq:A wq:group:gq:B)" = 0 ]
}

@test "groups take turns: a group of 1,000 queued jobs does not hold up a group of 1" {
	wq-queue limit gt --group-concurrency 2
	seq 1000 | wq-submit --lines --queue gt --group big >"$(suite_dir)/big"
	start w1 wq-worker --queue gt --concurrency 4 --heartbeat 0.2 \
	    --sleep 0.05 --quiet
	# the big group is under way, 2 at a time, when the small one comes
	wait_for 60 eval '[ "$(wq-status <"$(suite_dir)/big" | grep -c "\"worked\"")" -ge 4 ]'
	id=$(wq-submit --queue gt --group small s1 | jq -r .callback)
	run wq-status --wait --timeout 60 "$id"
	assert_success
	echo "$output" | jq -e '.group == "small" and .status == "worked"'
	# Redis's clock: small's submission and claim against big's claims
	c=$(echo "$output" | jq -r .created_at)
	s=$(echo "$output" | jq -r .started_at)
	wq-status <"$(suite_dir)/big" >"$(suite_dir)/recs"
	n=$(jq -r --argjson c "$c" --argjson s "$s" 'select(.started_at) |
	    .started_at | select(. > $c and . < $s)' "$(suite_dir)/recs" |
	    wc -l)
	left=$(jq -r 'select(.status == "pending")' "$(suite_dir)/recs" | grep -c pending || true)
	echo "big jobs started while small waited: $n; big jobs still pending after: $left"
	[ "$n" -le 2 ]
	# the check could fail: first in, first out, small would have waited
	# for those still pending
	[ "$left" -gt 100 ]
}

@test "a group's pending jobs: listed, cancelled, retried and purged with their markers" {
	wq-submit --queue gc --group A a1 a2 >"$(suite_dir)/a"
	wq-submit --queue gc --group B --priority 3 b1 >/dev/null
	wq-submit --queue gc p1 >/dev/null
	# 4 pending: 3 markers and the plain id; listed by id, the groups
	# in turn
	[ "$(rcli llen wq:queue:gc)" = 4 ]
	[ "$(wq-status --list pending --queue gc | jq -r .data | paste -sd' ')" = 'a1 a2 b1 p1' ]
	# a cancelled one leaves its group with a marker
	a1=$(head -1 "$(suite_dir)/a" | jq -r .callback)
	wq-cancel "$a1" >/dev/null
	[ "$(rcli llen wq:queue:gc)" = 3 ]
	[ "$(rcli zrange wq:group:gc:A 0 -1 | wc -l)" = 1 ]
	# retried, it is back in its group
	wq-retry "$a1" | jq -e '.status == "pending" and .group == "A"'
	[ "$(rcli llen wq:queue:gc)" = 4 ]
	[ "$(rcli zrange wq:group:gc:A 0 -1 | wc -l)" = 2 ]
	# purged: every job, the groups with them
	wq-queue purge gc --yes | jq -e '.cancelled == 4'
	[ "$(rcli exists wq:queue:gc wq:groups:gc wq:group:gc:A wq:group:gc:B)" = 0 ]
}

@test "a group at its limit: a job of a worker killed -9 frees its slot when reclaimed" {
	wq-queue limit gk --group-concurrency 1
	wq-submit --queue gk --group A k1 k2 >"$(suite_dir)/ids"
	k1=$(head -1 "$(suite_dir)/ids" | jq -r .callback)
	start w1 wq-worker --queue gk --concurrency 4 --sleep 30 \
	    --node-timeout 1 --heartbeat 0.2
	wait_for 30 status_is "$k1" working
	# one at a time: k2 waits while k1 works
	[ "$(wq-status --list pending --queue gk | jq -r .data)" = k2 ]
	kill -9 "$(pid_of w1)"
	start w2 wq-worker --queue gk --concurrency 4 --sleep 0 --heartbeat 0.2
	wq-status --wait --timeout 60 <"$(suite_dir)/ids" >"$(suite_dir)/recs"
	jq -e -s 'map(.status) == ["worked","worked"]' "$(suite_dir)/recs"
	[ "$(jq -r 'select(.data == "k1") | .attempts' "$(suite_dir)/recs")" = 2 ]
}

@test "limits shown by wq-queue ls, /api/v1/queues, /metrics, wq-peers --watch" {
	wq-queue limit q1 --concurrency 5 --rate 100/10s
	wq-queue limit q1 --concurrency 4
	run wq-queue ls
	assert_output --partial '"limits":{"concurrency":4,"rate":100,"period_ms":10000}'
	wq-queue limit q3 --group-concurrency 2
	api_start api
	http GET "$(api_url api)/api/v1/queues"
	echo "$body" | jq -e '.q1.limits == {"concurrency":4,"rate":100,"period_ms":10000}'
	echo "$body" | jq -e '.q3.limits == {"group_concurrency":2}'
	http GET "$(api_url api)/metrics"
	echo "$body" | grep -qx 'wq_queue_limit{queue="q1",kind="concurrency"} 4'
	echo "$body" | grep -qx 'wq_queue_limit{queue="q1",kind="rate"} 100'
	echo "$body" | grep -qx 'wq_queue_limit{queue="q1",kind="period_ms"} 10000'
	echo "$body" | grep -qx 'wq_queue_limit{queue="q3",kind="group_concurrency"} 2'
	# set through the API too
	http PUT "$(api_url api)/api/v1/queues/q4/limits" \
	    -H 'Content-Type: application/json' -d '{"group_concurrency":3}'
	[ "$code" = 200 ]
	echo "$body" | jq -e '.limits == {"group_concurrency":3}'
	[ "$(rcli hget wq:limit:q4 group_concurrency)" = 3 ]
	# a job's group through the API: kept in its record; a bad one: 400
	http POST "$(api_url api)/api/v1/work" -d '{"data":"g","queue":"q3","group":"t-1"}'
	[ "$code" = 200 ]
	id=$(echo "$body" | jq -r .callback)
	[ "$(wq-status "$id" | jq -r .group)" = t-1 ]
	id=$(wq-submit --api "$(api_url api)" --queue q3 --group t-2 g2 |
	    jq -r .callback)
	[ "$(wq-status "$id" | jq -r .group)" = t-2 ]
	for bad in '"a b"' '"a:b"' '""' 7; do
		http POST "$(api_url api)/api/v1/work" -d "{\"data\":\"h\",\"group\":$bad}"
		[ "$code" = 400 ]
		echo "$body" | jq -e '.error | test("group")'
	done
	# the monitor's queue table, on a terminal
	wq-queue limit q2 --rate 5/m
	timeout -k 5 60 script -qec \
	    "timeout -k 5 3 wq-peers --watch --interval 0.3" /dev/null </dev/null |
	    tr -d '\r' | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' >"$(suite_dir)/screen" || true
	grep -aqE '^q1 +0 +0 +0  4 at once, 100/10000ms$' "$(suite_dir)/screen"
	grep -aqE '^q2 +0 +0 +0  5/60000ms$' "$(suite_dir)/screen"
	grep -aqE '^q3 +2 +0 +0  2 a group$' "$(suite_dir)/screen"
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
	    "--rate 50/2d" "--rate -1/s" "--rate 99999999999999999999/s" \
	    "--group-concurrency 0" "--group-concurrency 100001" \
	    "--group-concurrency x" ""; do
		# shellcheck disable=SC2086
		run wq-queue limit q1 $bad
		assert_failure 2
		[ "${#lines[@]}" -eq 1 ]
		assert_output --regexp '^wq-queue: '
	done
	run wq-queue limit 'a b' --concurrency 1
	assert_failure 2
	[ "$(rcli hgetall wq:limit:q1 | paste -sd' ')" = 'concurrency 2' ]
	# a job's group: 1 to 128 characters, no space, control or ':'
	for bad in "" "a b" "a:b" "$(printf 'a\tb')" "$(printf '%0129d' 0)"; do
		run wq-submit --group "$bad" x
		assert_failure 2
		[ "${#lines[@]}" -eq 1 ]
		assert_output --regexp '^wq-submit: --group: bad group'
	done
	run wq-submit --json '{"data":"x","group":["a"]}'
	assert_failure 2
	assert_output --regexp '^wq-submit: input 1: "group" must be'
	[ "$(rcli exists wq:queue:default wq:groups:default)" = 0 ]
}
