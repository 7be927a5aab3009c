#!/usr/bin/env bats
# The event stream: wq-events, and the events the scripts write
# (docs/DESIGN.md, Events).

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { stop_started; }

# lines FILE: how many lines FILE has (0 if none).
lines() {
	[ -f "$1" ] && wc -l <"$1" || echo 0
}

@test "a consumer killed and restarted with --since misses none and repeats none" {
	dir=$(suite_dir)
	start reader wq-events --follow
	seq 1 20 | wq-submit --lines >/dev/null
	wait_for 20 eval '[ "$(lines "$dir/reader.log")" -ge 20 ]'
	kill -9 "$(pid_of reader)"
	cp "$dir/reader.log" "$dir/first"
	last=$(tail -n 1 "$dir/first" | jq -r .id)
	# while it is away: more jobs, and a worker runs them all
	seq 21 40 | wq-submit --lines >/dev/null
	start w1 wq-worker --sleep 0 --name ev-w1
	wait_for 20 eval '[ "$(rcli get wq:stats:worked)" = 40 ]'
	# a consumer that had dealt with 7 of them: the 20 submissions are
	# one entry of the stream, its 7th event's id ENTRY.7
	mid=$(sed -n 7p "$dir/first" | jq -r .id)
	[[ $mid == *-*.7 ]]
	start reader2 wq-events --follow --since "$mid"
	# 13 + 20 more submitted, 40 claimed, 40 worked
	wait_for 20 eval '[ "$(lines "$dir/reader2.log")" -ge 113 ]'
	# everything the stream holds, once, in order: the two runs joined
	wq-events >"$dir/all"
	[ "$(wc -l <"$dir/all")" = 120 ]
	{ head -n 7 "$dir/first"; cat "$dir/reader2.log"; } | jq -r .id \
	    >"$dir/seen"
	[ "$(jq -r .id "$dir/all")" = "$(cat "$dir/seen")" ]
	# after the last of an entry, or the entry's own id: what follows it
	[ "$(wq-events --since "$last")" = "$(sed 1,20d "$dir/all")" ]
	[ "$(wq-events --since "${last%.*}")" = "$(sed 1,20d "$dir/all")" ]
	# each job: submitted, claimed by ev-w1 with attempt 1, worked
	id=$(wq-submit 33 | jq -r .callback)
	run jq -c --arg id "$id" 'select(.callback == $id) |
	    [.type, .queue, .node, .attempt]' "$dir/all"
	[ "${#lines[@]}" = 3 ]
	[ "$(echo "${lines[0]}" | jq -r '.[0]')" = submitted ]
	[ "${lines[1]}" = '["claimed","default","ev-w1",1]' ]
	[ "${lines[2]}" = '["worked","default","ev-w1",1]' ]
	# --queue and --jq filter
	wq-submit --queue other x >/dev/null
	[ "$(wq-events --queue other | jq -r .type)" = submitted ]
	[ "$(wq-events --since "$last" --jq 'select(.type == "worked") |
	    .callback' | wc -l)" = 40 ]
}

@test "failures, retries, cancels and progress are events; --events 0 writes no stream" {
	ok=$(wq-submit ok | jq -r .callback)
	bad=$(wq-submit --max-attempts 2 bad | jq -r .callback)
	later=$(wq-submit --in 1h later | jq -r .callback)
	wq-cancel "$later" >/dev/null
	start w1 wq-worker --name ev-w2 --backoff 0.05 \
	    --exec 'read -r d; echo 50 >&3; [ "$d" = ok ]'
	wait_for 20 status_is "$bad" failed
	wait_for 20 status_is "$ok" worked
	run wq-events --jq 'select(.callback == "'"$bad"'") |
	    "\(.type) \(.attempt) \(.error != null)"'
	assert_output '"submitted null false"
"claimed 1 false"
"progress 1 false"
"retried 1 true"
"promoted null false"
"claimed 2 false"
"progress 2 false"
"failed 2 true"'
	run wq-events --jq 'select(.callback == "'"$ok"'" and
	    .type == "progress") | .progress.progress'
	assert_output 50
	run wq-events --jq 'select(.callback == "'"$later"'") | .type'
	assert_output '"submitted"
"cancelled"'
	stop_started
	# off: the scripts call no XADD at all (no stream to trim even)
	redis_flush
	WQ_EVENTS=0 wq-submit a b >/dev/null
	start w2 wq-worker --sleep 0 --events 0
	wait_for 20 eval '[ "$(rcli get wq:stats:worked)" = 2 ]'
	[ "$(rcli exists wq:events)" = 0 ]
	# a length: entries (one a call), trimmed to about it by the next
	# XADD of a script
	for i in $(seq 1 500); do
		echo "XADD wq:events * t submitted c $i q default n x"
	done | rcli >/dev/null
	seq 1 3 | wq-submit --lines --events 100 >/dev/null
	n=$(rcli xlen wq:events)
	[ "$n" -ge 100 ] && [ "$n" -lt 500 ]
	# a reader that resumes from before what is left is told
	run wq-events --since 1-0
	assert_success
	assert_output --partial 'the stream was trimmed'
	# (the last entry: the 3 submissions)
	[ "$(echo "$output" | grep -c '^{')" = "$(( n + 2 ))" ]
}

@test "wq-events --since: malformed or in the future is one line, exit 2" {
	for bad in abc 12- 1-2-3 1-2.0 1-2.x 2026-13-01T00:00:00Z; do
		run wq-events --since "$bad"
		assert_failure 2
		[ "${#lines[@]}" = 1 ]
		assert_output --partial 'neither a stream id'
	done
	run wq-events --since "$(( $(date +%s) + 3600 ))"
	assert_failure 2
	assert_output --partial 'in the future'
	run wq-events --since "$(( $(redis_ms) + 60000 ))-0"
	assert_failure 2
	assert_output --partial 'in the future'
	# a time: the events from it on
	wq-submit one >/dev/null
	sleep 0.01
	t=$(redis_ms)
	sleep 0.01
	two=$(wq-submit two | jq -r .callback)
	run wq-events --since "$(( t / 1000 )).$(printf %03d $(( t % 1000 )))"
	assert_success
	[ "$(echo "$output" | jq -r .callback)" = "$two" ]
}
