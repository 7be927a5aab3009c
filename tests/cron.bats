#!/usr/bin/env bats
# wq-cron: schedule expressions (their next times against a table of
# known answers, across DST changes; malformed ones refused with the
# column), the schedules in Redis (add, ls, pause, resume, rm), and their
# firing by the sweep: on a live worker, with ids that are the MD5 of
# "cron:NAME:TIME", at most once with two nodes sweeping, the catch-up
# policy after an outage, and each time exactly once on 3 workers while
# one is killed, one stopped, then none runs for 4 s.

load helpers
load api-helpers
bats_require_minimum_version 1.5.0

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { stop_started; }

times() {
	"$WQ_BUILDDIR/tests/cron-times" "$@" | paste -sd' '
}

# at DATE: Unix seconds of an ISO date.
at() {
	date -d "$1" +%s
}

# sched NAME FIELD: a field of the schedule as wq-cron ls prints it.
sched() {
	wq-cron ls | jq -r --arg n "$1" "select(.name == \$n) | .$2"
}

# last_s NAME: the last time NAME fired, in Unix seconds (empty: never).
last_s() {
	local l
	l=$(sched "$1" last)
	[ "$l" != null ] && [ -n "$l" ] && date -d "$l" +%s
}

# fired NAME [T]: NAME has fired (time T or later).
fired() {
	local l
	l=$(last_s "$1") && [ "$l" -ge "${2:-0}" ]
}

submitted_at_least() {
	[ "$(stat_of submitted)" -ge "$1" ]
}

@test "next times match a table of known answers" {
	local t0
	t0=$(at 2026-01-01T00:00:00Z)
	[ "$(times '*/15 * * * *' UTC "$t0" 3)" = "2026-01-01T00:15:00Z 2026-01-01T00:30:00Z 2026-01-01T00:45:00Z" ]
	[ "$(times '0,30 9-10 * * *' UTC "$t0" 5)" = "2026-01-01T09:00:00Z 2026-01-01T09:30:00Z 2026-01-01T10:00:00Z 2026-01-01T10:30:00Z 2026-01-02T09:00:00Z" ]
	# day of month and day of week both restricted: either matches
	[ "$(times '0 0 1 * MON' UTC "$t0" 4)" = "2026-01-05T00:00:00Z 2026-01-12T00:00:00Z 2026-01-19T00:00:00Z 2026-01-26T00:00:00Z" ]
	[ "$(times '0 0 13 * fri' UTC "$t0" 3)" = "2026-01-02T00:00:00Z 2026-01-09T00:00:00Z 2026-01-13T00:00:00Z" ]
	# one of them *: both must match (Friday the 13th needs the OR off)
	[ "$(times '0 0 */1 * 5' UTC "$t0" 2)" = "2026-01-02T00:00:00Z 2026-01-09T00:00:00Z" ]
	# 7 is Sunday, like 0; ranges of names
	[ "$(times '0 12 * * 7' UTC "$t0" 1)" = "2026-01-04T12:00:00Z" ]
	[ "$(times '0 0 1 JAN-MAR/2 *' UTC "$t0" 3)" = "2026-03-01T00:00:00Z 2027-01-01T00:00:00Z 2027-03-01T00:00:00Z" ]
	# end of month: the 31st skips the short months; Feb 29 leap years
	[ "$(times '0 0 31 * *' UTC "$t0" 3)" = "2026-01-31T00:00:00Z 2026-03-31T00:00:00Z 2026-05-31T00:00:00Z" ]
	[ "$(times '0 0 29 2 *' UTC "$t0" 2)" = "2028-02-29T00:00:00Z 2032-02-29T00:00:00Z" ]
	[ "$(times '0 0 30 2 *' UTC "$t0" 1)" = "" ]
	[ "$(times '59 23 31 12 *' UTC "$t0" 1)" = "2026-12-31T23:59:00Z" ]
	[ "$(times @monthly UTC "$t0" 2)" = "2026-02-01T00:00:00Z 2026-03-01T00:00:00Z" ]
	[ "$(times @weekly UTC "$t0" 1)" = "2026-01-04T00:00:00Z" ]
	# @every: multiples of the period since the epoch
	[ "$(times '@every 1s' UTC 100 3)" = "1970-01-01T00:01:41Z 1970-01-01T00:01:42Z 1970-01-01T00:01:43Z" ]
	[ "$(times '@every 1h30m' UTC "$t0" 2)" = "2026-01-01T01:30:00Z 2026-01-01T03:00:00Z" ]
	# a zone: 09:00 in Paris is 08:00Z in winter, 07:00Z in summer
	[ "$(times '0 9 * * *' Europe/Paris "$(at 2026-03-28T12:00:00Z)" 2)" = "2026-03-29T09:00:00+02:00 2026-03-30T09:00:00+02:00" ]
	[ "$(times '0 9 * * *' Europe/Paris "$t0" 1 | xargs -I{} date -u -d {} +%H)" = 08 ]
	# clock forward (New York, 2026-03-08 02:00 -> 03:00): a skipped wall
	# time fires as mktime reads it, that long after the jump
	[ "$(times '30 2 * * *' America/New_York "$(at 2026-03-07T12:00:00Z)" 3)" = "2026-03-08T03:30:00-04:00 2026-03-09T02:30:00-04:00 2026-03-10T02:30:00-04:00" ]
	[ "$(times '*/30 * * * *' America/New_York "$(at 2026-03-08T06:00:00Z)" 4)" = "2026-03-08T01:30:00-05:00 2026-03-08T03:00:00-04:00 2026-03-08T03:30:00-04:00 2026-03-08T04:00:00-04:00" ]
	# clock back (2026-11-01 02:00 -> 01:00): 01:30 fires once, the first
	[ "$(times '30 1 * * *' America/New_York "$(at 2026-10-31T12:00:00Z)" 3)" = "2026-11-01T01:30:00-04:00 2026-11-02T01:30:00-05:00 2026-11-03T01:30:00-05:00" ]
	[ "$(times '*/30 * * * *' America/New_York "$(at 2026-11-01T04:45:00Z)" 4)" = "2026-11-01T01:00:00-04:00 2026-11-01T01:30:00-04:00 2026-11-01T02:00:00-05:00 2026-11-01T02:30:00-05:00" ]
	# every hour across the change: the repeated wall hour fires once
	[ "$(times '0 * * * *' Europe/Berlin "$(at 2026-10-24T23:30:00Z)" 4)" = "2026-10-25T02:00:00+02:00 2026-10-25T03:00:00+01:00 2026-10-25T04:00:00+01:00 2026-10-25T05:00:00+01:00" ]
	[ "$(times '0 * * * *' Europe/Berlin "$(at 2026-03-29T00:30:00Z)" 2)" = "2026-03-29T03:00:00+02:00 2026-03-29T04:00:00+02:00" ]
}

@test "malformed expressions are refused with their column" {
	local spec want
	while IFS='|' read -r spec want; do
		run -2 wq-cron add x "$spec"
		[ "${#lines[@]}" = 1 ]
		[[ $output == "wq-cron: bad schedule \"$spec\": column $want" ]] || {
			echo "$spec: $output (want column $want)"
			return 1
		}
	done <<'EOF'
61 * * * *|1: minute out of range 0-59
* 24 * * *|3: hour out of range 0-23
* * 0 * *|5: day of month out of range 1-31
* * * 13 *|7: month out of range 1-12
* * * * 8|9: day of week out of range 0-7
* * * *|8: missing the day of week field (a cron expression has 5)
* * * * * *|11: more than 5 fields
5/2 * * * *|1: a step follows * or a range
*/0 * * * *|3: a step is a number from 1 to 59
1-a * * * *|3: expected a number in the minute field
3-1 * * * *|1: a range goes from low to high
*,, * * * *|3: expected a number in the minute field
* * * FOO *|7: unknown name in the month field
* * * * MON-x|13: unknown name in the day of week field
*x * * * *|2: unexpected character in the minute field
|1: missing the minute field (a cron expression has 5)
@every|7: @every needs a duration such as 30s, 5m, 1h30m
@every 5|9: expected a unit: d, h, m or s, in that order
@every 1m1h|11: expected a unit: d, h, m or s, in that order
@every 0s|10: the shortest period is 1s
@every 367d|11: over the longest period, 366d
@foo|1: unknown macro (@every, @hourly, @daily, @weekly, @monthly, @yearly)
EOF
	run -2 wq-cron add x '0 0 30 2 *'
	assert_output 'wq-cron: bad schedule "0 0 30 2 *": it never fires'
	run -2 wq-cron add x '* * * * *' --tz Mars/Olympus
	assert_output --partial 'wq-cron: unknown time zone "Mars/Olympus"'
	run -2 wq-cron add x '* * * * *' --tz ../../etc/passwd
	assert_output --partial 'wq-cron: bad time zone'
	run -2 wq-cron add 'a b' '* * * * *'
	assert_output --partial 'wq-cron: bad schedule name "a b"'
	run -2 wq-cron add x '* * * * *' '{"data":1,"key":"k"}' --json
	assert_output --partial 'has no "key"'
	run -2 wq-cron add x '* * * * *' --catch-up -1
	run -2 wq-cron add x
	run -2 wq-cron frob x
	run -1 wq-cron rm nothing
	assert_output 'wq-cron: no schedule nothing'
	# nothing was stored
	[ "$(rcli exists wq:schedules wq:cron wq:schedule:x)" = 0 ]
}

@test "add, ls, replace, pause, resume, rm" {
	run wq-cron add rep '0 6 * * MON-FRI' --tz Europe/Paris --queue q2 \
	    --timeout 5 --max-attempts 2 --ttl 60
	assert_success
	echo "$output" | jq -e '.name == "rep" and .status == "added"
		and (.next | test("T06:00:00\\+01:00$"))'
	run wq cron ls
	assert_success
	echo "$output" | jq -e '.name == "rep" and .spec == "0 6 * * MON-FRI"
		and .tz == "Europe/Paris" and .paused == false and .last == null
		and .catch_up == 0 and (.next | length) == 3
		and .job == {"data":"rep","queue":"q2","ttl":60,"timeout":5,
			"max_attempts":2}'
	run wq-cron add rep '@daily' '{"data":{"n":1}}' --json --catch-up 3
	assert_success
	echo "$output" | jq -e '.status == "replaced"'
	[ "$(sched rep spec)" = @daily ]
	[ "$(sched rep catch_up)" = 3 ]
	[ "$(sched rep job.data.n)" = 1 ]
	run wq-cron pause rep
	assert_output '{"name":"rep","status":"paused"}'
	[ "$(sched rep paused)" = true ]
	[ "$(sched rep 'next | length')" = 0 ]
	[ "$(rcli zcard wq:cron)" = 0 ]
	run wq-cron resume rep
	assert_output '{"name":"rep","status":"resumed"}'
	[ "$(sched rep 'next | length')" = 3 ]
	run wq-cron rm rep
	assert_output '{"name":"rep","status":"removed"}'
	[ -z "$(wq-cron ls)" ]
	[ "$(rcli exists wq:schedules wq:cron wq:schedule:rep)" = 0 ]
}

@test "@every 1s fires on a live worker, ids a function of name and time" {
	local first last t n=0
	wq-cron add tick '@every 1s' hello --ttl 600
	first=$(date -d "$(sched tick 'next[0]')" +%s)
	start w1 wq-worker --jq '"ran " + .' --heartbeat 0.2 --quiet
	wait_for 30 fired tick $((first + 2))
	last=$(last_s tick)
	for t in $(seq "$first" "$last"); do
		if status_is "$(md5id "cron:tick:$t")" worked; then
			n=$((n + 1))
		fi
	done
	# the last time fired has its job, and every job is one of its times
	wait_for 20 status_is "$(md5id "cron:tick:$last")" worked
	[ "$(rcli hget "wq:job:$(md5id "cron:tick:$last")" r)" = '"ran hello"' ]
	[ "$n" -ge 3 ]
	# no job but the schedule's: read before the last time, which each
	# firing moves on before it submits
	n=$(stat_of submitted)
	last=$(last_s tick)
	[ "$n" -le $((last - first + 1)) ]
}

@test "an API instance alone fires them: whichever node sweeps does" {
	local first id
	wq-cron add tick '@every 1s' hello
	first=$(date -d "$(sched tick 'next[0]')" +%s)
	api_start api
	wait_for 30 fired tick $((first + 1))
	# no worker: the job it fired is queued, in the schedule's queue
	id=$(md5id "cron:tick:$(last_s tick)")
	wait_for 10 status_is "$id" pending
	[ "$(rcli llen wq:queue:default)" -ge 2 ]
	api_logs_clean
}

@test "more schedules due than a sweep fires: the rest at once, not a beat later" {
	local n
	# 150 due together: a sweep fires 100, the worker sweeps again for
	# the rest at once; with beats 60 s apart, a later beat cannot be
	# what fires them
	for n in $(seq 150); do echo "s$n"; done |
	    xargs -P 4 -I{} wq-cron add {} '@every 1s' >/dev/null
	sleep 1.1
	start w1 wq-worker --jq . --heartbeat 60 --node-timeout 180 --quiet
	wait_for 30 sh -c "[ \"\$(wq-cron ls | jq -s 'map(select(.last)) | length')\" = 150 ]"
	# and their jobs were queued (a time less than 2 s late fires too)
	[ "$(stat_of submitted)" -ge 150 ]
}

@test "two nodes sweeping fire each time at most once" {
	local runs first last id
	runs=$(suite_dir)/runs
	: >"$runs"
	# a short ttl: a time fired again after its record expired would run
	# again, and show twice
	wq-cron add tick '@every 1s' --ttl 1
	first=$(date -d "$(sched tick 'next[0]')" +%s)
	start w1 wq-worker --exec "cat >/dev/null; echo \$WQ_JOB_ID >>$runs" \
	    --heartbeat 0.1 --quiet
	start w2 wq-worker --exec "cat >/dev/null; echo \$WQ_JOB_ID >>$runs" \
	    --heartbeat 0.1 --quiet
	wait_for 30 fired tick $((first + 1))
	# one sweeper frozen past the sweep's gate, then back
	kill -STOP "$(pid_of w1)"
	wait_for 30 fired tick $((first + 3))
	kill -CONT "$(pid_of w1)"
	wait_for 30 fired tick $((first + 4))
	last=$(last_s tick)
	wait_for 20 grep -q "$(md5id "cron:tick:$last")" "$runs"
	stop_started
	[ -z "$(sort "$runs" | uniq -d)" ]
	# each run is a time of the schedule
	while read -r id; do
		for t in $(seq "$first" "$((last + 1))"); do
			[ "$(md5id "cron:tick:$t")" = "$id" ] && continue 2
		done
		echo "run $id is no time of the schedule"
		return 1
	done <"$runs"
	[ "$(wc -l <"$runs")" -ge 3 ]
}

@test "after an outage: the latest time, and --catch-up N missed ones" {
	local now t0 l
	wq-cron add skip '@every 60s' skip
	wq-cron add catch '@every 60s' catch --catch-up 3
	# as if no node had run for an hour: their next time an hour ago
	now=$(rcli time | head -1)
	t0=$(( (now / 60 - 60) * 60 ))
	for n in skip catch; do
		rcli hset "wq:schedule:$n" next "$t0" >/dev/null
		rcli zadd wq:cron "${t0}000" "$n" >/dev/null
	done
	start w1 wq-worker --jq . --heartbeat 0.2 --quiet
	wait_for 30 fired skip
	wait_for 30 fired catch
	# the latest time past fires, the hour before it does not
	l=$(last_s skip)
	[ "$l" -gt $((now - 62)) ]
	wait_for 20 status_is "$(md5id "cron:skip:$l")" worked
	[ -z "$(job_status "$(md5id "cron:skip:$((l - 60))")")" ]
	[ -z "$(job_status "$(md5id "cron:skip:$t0")")" ]
	# with --catch-up 3: the latest and the 3 missed before it
	l=$(last_s catch)
	for t in $l $((l - 60)) $((l - 120)) $((l - 180)); do
		wait_for 20 status_is "$(md5id "cron:catch:$t")" worked
	done
	[ -z "$(job_status "$(md5id "cron:catch:$((l - 240))")")" ]
	[ "$(stat_of submitted)" = 5 ]
	# and they go on from now
	[ "$(date -d "$(sched skip 'next[0]')" +%s)" -gt "$now" ]
}

@test "a paused schedule does not fire; resumed, it does" {
	wq-cron add tick '@every 1s' tick
	wq-cron add tock '@every 1s' tock
	wq-cron pause tick
	start w1 wq-worker --jq . --heartbeat 0.2 --quiet
	# tock fired twice after the pause: sweeps ran, and tick had none
	wait_for 30 submitted_at_least 2
	[ "$(sched tick last)" = null ]
	[ "$(rcli hget wq:schedule:tick last)" = "" ]
	wq-cron resume tick
	wait_for 30 fired tick
	wait_for 20 status_is "$(md5id "cron:tick:$(last_s tick)")" worked
}

# fired_times NAME FROM TO: the times from FROM to TO whose firing of
# NAME has a record (the ids computed at once: the test stays quick).
fired_times() {
	local jobs
	jobs=$(rcli --scan --pattern 'wq:job:*' | sed 's/^wq:job://')
	python3 -c '
import hashlib, sys
n, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
have = set(sys.argv[4].split())
for t in range(a, b + 1):
    if hashlib.md5(f"cron:{n}:{t}".encode()).hexdigest().upper() in have:
        print(t)' "$1" "$2" "$3" "$jobs"
}

@test "3 workers, one killed, one stopped, then none for 4 s: each time once" {
	local first last down up n all
	# tick catches up what an outage missed; skip runs the latest only
	wq-cron add tick '@every 1s' --catch-up 10 --ttl 600
	wq-cron add skip '@every 1s' --ttl 600
	first=$(date -d "$(sched tick 'next[0]')" +%s)
	for w in w1 w2 w3; do
		start "$w" wq-worker --jq . --heartbeat 0.1 --node-timeout 1 \
		    --quiet
	done
	wait_for 30 fired tick $((first + 1))
	kill -KILL "$(pid_of w1)"
	kill -STOP "$(pid_of w2)"
	wait_for 30 fired tick $((first + 3))
	kill -CONT "$(pid_of w2)"
	wait_for 30 fired tick $((first + 4))
	# no node at all for 4 s
	kill -TERM "$(pid_of w2)" "$(pid_of w3)"
	wait_for 20 sh -c "! kill -0 $(pid_of w2) 2>/dev/null &&
	    ! kill -0 $(pid_of w3) 2>/dev/null"
	down=$(rcli time | head -1)
	sleep 4
	up=$(rcli time | head -1)
	start w4 wq-worker --jq . --heartbeat 0.1 --quiet
	wait_for 30 fired tick $((up + 1))
	wait_for 30 fired skip $((up + 1))
	stop_started
	# tick: every time from the first to the last fired, outage or not
	last=$(last_s tick)
	[ "$(fired_times tick "$first" "$last" | paste -sd' ')" = \
	    "$(seq "$first" "$last" | paste -sd' ')" ]
	[ $((last - first)) -ge 9 ]
	# skip: none of the times more than 2 s late when a node came back
	[ $((up - 2 - down)) -ge 2 ]
	[ -z "$(fired_times skip $((down + 1)) $((up - 2)))" ]
	[ -n "$(fired_times skip "$(last_s skip)" "$(last_s skip)")" ]
	# once each: every submission is one of these times (no other id,
	# none after the last)
	n=$(fired_times tick $((first - 1)) $((last + 1)) | wc -l)
	all=$(fired_times skip $((first - 1)) $((last + 1)) | wc -l)
	[ "$(stat_of submitted)" = $((n + all)) ]
}
