#!/usr/bin/env bats
# The readers of a namespace of several partitions (docs/DESIGN.md,
# section 25): queue depths, --list, the totals and the latency, /metrics,
# the recent jobs, the monitor and the event stream see every partition,
# merged.  (tests/partitions.bats has the core: submission, claims,
# sweeps.)

load helpers
load api-helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() {
	redis_flush
	export WQ_PARTITIONS=4
}
teardown() { api_teardown; }

# in_parts PATTERN: how many partitions hold a key matching wq:N:PATTERN.
in_parts() {
	rcli --scan --pattern "wq:*:$1" | sed 's/^wq:\([0-9]*\):.*/\1/' |
	    sort -u | wc -l
}

# jobs Q N [wq-submit args...]: N jobs of queue Q, data Q-1 .. Q-N (or
# D-1 .. D-N with --data D, first).
jobs() {
	local q=$1 n=$2 d=$1
	shift 2
	if [ "${1:-}" = --data ]; then
		d=$2
		shift 2
	fi
	seq "$n" | sed "s/^/$d-/" | wq-submit --queue "$q" "$@" >/dev/null
}

# idle Q: Q has no job pending and none working.
idle() {
	[ "$(wq-queue ls | jq -r --arg q "$1" 'select(.name == $q) | .pending')" = 0 ] &&
	    [ "$(wq-status --list working --queue "$1" | wc -l)" = 0 ]
}

# drain Q NAME: a worker NAME runs the jobs of Q until none is left.
drain() {
	start "$2" wq-worker --queue "$1" --sleep 0 --name "$2"
	wait_for 30 idle "$1"
}

@test "wq-queue ls: the queues of every partition, their depths summed" {
	jobs a 12
	jobs b 7
	jobs c 9
	jobs a 5 --data later --in 1h
	# (the jobs are spread: a reader of one partition sees a part)
	[ "$(in_parts 'queue:a')" -gt 1 ]
	[ "$(in_parts 'delayed:a')" -gt 1 ]
	run wq-queue ls
	[ "$status" = 0 ]
	echo "$output" | jq -e -s 'map(.name) == ["a","b","c"]'
	echo "$output" | jq -e -s '.[0].pending == 12 and .[0].delayed == 5
		and .[1].pending == 7 and .[2].pending == 9
		and all(.[]; .dead == 0 and .paused == false)'
	# paused as partition 0 says (a pause writes every partition)
	wq-queue pause b >/dev/null
	wq-queue ls | jq -e -s 'map(.paused) == [false,true,false]'
}

@test "wq-status --list: pending, delayed and working of every partition" {
	jobs p 20
	jobs p 6 --data later --in 1h
	run wq-status --list pending --queue p
	[ "$status" = 0 ]
	[ "$(echo "$output" | jq -r .data | sort -V | tr '\n' ' ')" = "$(seq 20 | sed 's/^/p-/' | tr '\n' ' ')" ]
	# --limit holds over all of them, the partitions taken in turn
	[ "$(wq-status --list pending --queue p --limit 5 | wc -l)" = 5 ]
	[ "$(wq-status --list delayed --queue p | jq -r .data | sort -u | sed -n '/^later-/p' | wc -l)" = 6 ]
	[ "$(wq-status --list delayed --queue p | wc -l)" = 6 ]
	# working: each node's active list in every partition
	start w wq-worker --queue p --sleep 60 --concurrency 8 --name rd-w
	wait_for 20 eval '[ "$(wq-status --list working --queue p | wc -l)" = 8 ]'
	[ "$(in_parts 'active:rd-w')" -gt 1 ]
	[ "$(wq-status --list working --queue p | jq -r .callback | sort -u | wc -l)" = 8 ]
}

@test "dead jobs: the depths and --list dead of every partition" {
	jobs d 10 --max-attempts 1
	start w wq-worker --queue d --exec false --name rd-d
	wait_for 30 eval '[ "$(wq-queue ls | jq -r "select(.name == \"d\") | .dead")" = 10 ]'
	[ "$(in_parts 'dead:d')" -gt 1 ]
	[ "$(wq-status --list dead --queue d | jq -r .status | sort | uniq -c | awk '{print $1, $2}')" = "10 failed" ]
	[ "$(wq-status --list failed --queue d --limit 4 | wc -l)" = 4 ]
}

@test "totals and latency: every partition's counts summed (wq-peers --watch, /metrics)" {
	jobs t 30
	jobs u 10
	drain t rd-t
	[ "$(in_parts 'stats:worked')" -gt 1 ]
	# the monitor's snapshot: totals and depths of all partitions
	timeout -k 5 60 sh -c 'wq-peers --watch --interval 0.2 | head -n 1' >"$(suite_dir)/snap"
	jq -e '.stats.submitted == 40 and .stats.worked == 30
		and .queues.u.pending == 10 and .queues.t.pending == 0' "$(suite_dir)/snap"
	# the API's /metrics
	api_start api
	url=$(api_url api)
	http GET "$url/metrics"
	[ "$code" = 200 ]
	echo "$body" | grep -q '^wq_jobs_submitted_total 40$'
	echo "$body" | grep -q '^wq_jobs_worked_total 30$'
	echo "$body" | grep -q '^wq_queue_jobs{queue="u",state="pending"} 10$'
	echo "$body" | grep -q '^wq_job_latency_seconds_bucket{le="+Inf"} 30$'
	echo "$body" | grep -q '^wq_job_latency_seconds_count 30$'
	# the console's stats and queues
	http GET "$url/api/v1/queues"
	echo "$body" | jq -e '.u.pending == 10'
	http GET "$url/api/v1/stats"
	echo "$body" | jq -e '.totals.submitted == 40'
}

@test "/metrics: jobs working on a node, summed over its active lists" {
	jobs w 6
	start w wq-worker --queue w --sleep 60 --concurrency 6 --name rd-w6
	wait_for 20 eval '[ "$(wq-status --list working --queue w | wc -l)" = 6 ]'
	[ "$(in_parts 'active:rd-w6')" -gt 1 ]
	api_start api
	http GET "$(api_url api)/metrics"
	echo "$body" | grep -q '^wq_jobs_working 6$'
}

@test "/api/v1/recent: the jobs of every partition, newest first, up to the limit" {
	for i in $(seq 12); do
		wq-submit --queue r "r-$i" >/dev/null
	done
	api_start api
	url=$(api_url api)
	http GET "$url/api/v1/recent?limit=25"
	[ "$code" = 200 ]
	echo "$body" | jq -e 'length == 12'
	echo "$body" | jq -e '[.[].created_at] == ([.[].created_at] | sort | reverse)'
	echo "$body" | jq -e '.[0].data == "r-12"'
	http GET "$url/api/v1/recent?limit=5"
	echo "$body" | jq -e 'length == 5 and .[4].data == "r-8"'
}

@test "wq-events: every partition's stream, in id order, each id once, resumed exactly" {
	jobs e 30
	drain e rd-e
	stop_started
	[ "$(in_parts events)" = 4 ]
	wq-events >"$(suite_dir)/all"
	# 30 submitted, 30 claimed, 30 worked
	[ "$(jq -r .type "$(suite_dir)/all" | sort | uniq -c | awk '{print $1}' | sort -u)" = 30 ]
	[ "$(wc -l <"$(suite_dir)/all")" = 90 ]
	[ -z "$(jq -r .id "$(suite_dir)/all" | sort | uniq -d)" ]
	# in order: the entries' ids never go back
	jq -r '.id | sub("[.@].*"; "")' "$(suite_dir)/all" | sort -V -c
	# --since any of them: exactly the ones after it
	jq -r .id "$(suite_dir)/all" >"$(suite_dir)/ids"
	for k in 1 2 3 7 15 31 45 89; do
		id=$(sed -n "${k}p" "$(suite_dir)/ids")
		diff <(wq-events --since "$id" | jq -r .id) \
		    <(tail -n +$((k + 1)) "$(suite_dir)/ids")
	done
}

@test "wq-events --follow and GET /api/v1/events: new events of every partition" {
	start reader wq-events --follow
	api_start api
	url=$(api_url api)
	start sse curl -s -N --max-time 60 "$url/api/v1/events"
	jobs f 16
	[ "$(in_parts 'queue:f')" -gt 1 ]
	wait_for 20 eval '[ "$(log_of reader | grep -c "\"submitted\"")" = 16 ]'
	wait_for 20 eval '[ "$(log_of sse | grep -c "^data: .*\"submitted\"")" = 16 ]'
	# each event once, under its own id
	[ -z "$(log_of sse | grep '^id: ' | sort | uniq -d)" ]
	[ "$(log_of reader | jq -r .callback | sort -u | wc -l)" = 16 ]
}
