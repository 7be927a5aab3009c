#!/usr/bin/env bats
# Job control in a namespace of several partitions (docs/DESIGN.md,
# section 25): cancel, retry, pause, resume, purge, limits and groups,
# dependencies and schedules, with WQ_PARTITIONS=4, by Redis and through
# the API.  Each script touches one partition; the control partition
# (wq) keeps membership, inboxes and schedules.

load helpers
load api-helpers
bats_require_minimum_version 1.5.0

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() {
	redis_flush
	export WQ_PARTITIONS=4
	# the prefixes of the 4 partitions, in order (lib/part.c): wq:N, N
	# the first whole number whose slot is in the partition's quarter
	mapfile -t PFX < <(python3 -c '
import binascii
for p in range(4):
    k = 0
    while (binascii.crc_hqx(b"wq:%d" % k, 0) % 16384) * 4 // 16384 != p:
        k += 1
    print("wq:%d" % k)')
}
teardown() { api_teardown; }

STUCK="302.$(( $$ % 1000 ))"

# part_of ID: its partition (the first 8 hex digits mod 4).
part_of() {
	echo $(( 16#${1:0:8} % 4 ))
}

# pfx ID: the prefix of its partition.
pfx() {
	echo "${PFX[$(part_of "$1")]}"
}

# pstatus ID: the status of its record, in its partition.
pstatus() {
	rcli hget "$(pfx "$1"):job:$1" s
}

pstatus_is() {
	[ "$(pstatus "$1")" = "$2" ]
}

# in_parts KEY: the sum over the partitions of KEY's length (a list).
in_parts() {
	local p n=0
	for p in "${PFX[@]}"; do
		n=$(( n + $(rcli llen "$p:$1") ))
	done
	echo "$n"
}

# parts_of FILE: how many partitions the ids of FILE are in.
parts_of() {
	local id
	while read -r id; do part_of "$id"; done <"$1" | sort -u | wc -l
}

stuck_running() {
	pgrep -f "^sleep $STUCK$" >/dev/null
}

# fail_jobs N: N jobs of queue default that failed for good, their ids
# in $(suite_dir)/failed in the order submitted.
fail_jobs() {
	seq "$1" | sed 's/^/bad-/' | wq-submit --lines --max-attempts 1 |
	    jq -r .callback >"$(suite_dir)/failed"
	start wf wq-worker --jq 'error("bad")'
	wait_for 30 eval "[ \"\$(in_parts dead:default)\" = $1 ]"
	kill "$(pid_of wf)"
	wait_for 20 eval '[ "$(rcli zcard wq:nodes)" = 0 ]'
}

@test "P=4: the namespace has 4 partitions, jobs in each" {
	seq 16 | wq-submit --lines | jq -r .callback >"$(suite_dir)/ids"
	[ "$(rcli get wq:partitions)" = 4 ]
	[ "$(parts_of "$(suite_dir)/ids")" -ge 2 ]
	[ "$(in_parts queue:default)" = 16 ]
	while read -r id; do pstatus_is "$id" pending; done <"$(suite_dir)/ids"
}

@test "wq-cancel: pending jobs of several partitions, answered in the order given" {
	seq 16 | wq-submit --lines | jq -r .callback >"$(suite_dir)/ids"
	[ "$(parts_of "$(suite_dir)/ids")" -ge 2 ]
	run wq-cancel $(cat "$(suite_dir)/ids")
	assert_success
	[ "$(echo "$output" | jq -r .callback)" = "$(cat "$(suite_dir)/ids")" ]
	[ "$(echo "$output" | jq -r .status | sort -u)" = cancelled ]
	[ "$(in_parts queue:default)" = 0 ]
	while read -r id; do
		pstatus_is "$id" cancelled
		[ "$(rcli ttl "$(pfx "$id"):job:$id")" -gt 0 ]
	done <"$(suite_dir)/ids"
	# an unknown id among known ones: exit 1, the others as they are
	u=0123456789ABCDEF0123456789ABCDEF
	run wq-cancel "$(head -1 "$(suite_dir)/ids")" "$u"
	assert_failure 1
	assert_output --partial "$u: not found"
	assert_output --partial 'not cancelled: the job is cancelled'
}

@test "wq-cancel: a working job is killed; its node told through its inbox in the control partition" {
	id=$(wq-submit slow | jq -r .callback)
	start w1 wq-worker --exec "sleep $STUCK & sleep $STUCK; echo done"
	wait_for 20 stuck_running
	pstatus_is "$id" working
	run wq-cancel "$id"
	assert_success
	[ "$(echo "$output" | jq -r .status)" = cancelled ]
	wait_for 20 eval '! stuck_running'
	wait_for 20 grep -q "job $id cancelled by" "$(suite_dir)/w1.log"
	wait_for 20 grep -q "fenced" "$(suite_dir)/w1.log"
	pstatus_is "$id" cancelled
	[ "$(rcli llen "$(pfx "$id"):active:$(wq-peers | jq -r .name)")" = 0 ]
	# no node's key in a partition
	[ -z "$(rcli --scan --pattern 'wq:*:inbox:*')" ]
	[ -z "$(rcli --scan --pattern 'wq:*:node:*')" ]
	kill -0 "$(pid_of w1)"
}

@test "wq-retry: by id in its partition; --all: the partitions in turn, oldest first in each" {
	fail_jobs 12
	[ "$(parts_of "$(suite_dir)/failed")" -ge 2 ]
	id=$(head -1 "$(suite_dir)/failed")
	run wq-retry "$id"
	assert_success
	echo "$output" | jq -e --arg id "$id" '.callback == $id and
	    .status == "pending" and .attempts == 0'
	[ "$(rcli lrange "$(pfx "$id"):queue:default" 0 -1)" = "$id" ]
	[ "$(in_parts dead:default)" = 11 ]
	run wq-retry --all
	assert_success
	[ "$(echo "$output" | jq -r .status | sort | uniq -c | awk '{print $1, $2}')" = "11 pending" ]
	[ "$(in_parts dead:default)" = 0 ]
	[ "$(in_parts queue:default)" = 12 ]
	# partition 0 first, then 1, ...; in each, the order they failed
	for c in $(echo "$output" | jq -r .callback); do
		echo "$(part_of "$c") $c"
	done >"$(suite_dir)/order"
	[ "$(cut -d' ' -f1 "$(suite_dir)/order")" = "$(cut -d' ' -f1 "$(suite_dir)/order" | sort -n)" ]
	[ "$(cut -d' ' -f1 "$(suite_dir)/order" | uniq | wc -l)" -ge 2 ]
	# nothing left: exit 0, nothing printed
	run wq-retry --all
	assert_success
	assert_output ''
}

@test "wq-queue pause and resume: every partition's paused set; no claim while paused" {
	run wq-queue pause q
	assert_success
	echo "$output" | jq -e '.name == "q" and .paused == true'
	for p in "${PFX[@]}"; do
		[ "$(rcli sismember "$p:paused" q)" = 1 ]
	done
	[ "$(rcli exists wq:paused)" = 0 ]
	seq 12 | wq-submit --lines --queue q | jq -r .callback >"$(suite_dir)/ids"
	seq 12 | sed 's/^/r-/' | wq-submit --lines --queue r | jq -r .callback >"$(suite_dir)/others"
	[ "$(parts_of "$(suite_dir)/ids")" -ge 2 ]
	start w1 wq-worker --queue q --queue r --sleep 0
	# it claims from every partition, but not of q
	while read -r id; do
		wait_for 20 pstatus_is "$id" worked
	done <"$(suite_dir)/others"
	[ "$(in_parts queue:q)" = 12 ]
	while read -r id; do pstatus_is "$id" pending; done <"$(suite_dir)/ids"
	wq-queue ls | jq -s -e 'map(select(.name == "q"))[0] |
	    .pending == 12 and .paused'
	run wq-queue resume q
	assert_success
	echo "$output" | jq -e '.paused == false'
	for p in "${PFX[@]}"; do
		[ "$(rcli sismember "$p:paused" q)" = 0 ]
	done
	while read -r id; do
		wait_for 20 pstatus_is "$id" worked
	done <"$(suite_dir)/ids"
}

@test "wq-queue pause: an idle worker's beats do not send it to claim in vain in any partition" {
	wq-queue pause q >/dev/null
	seq 8 | sed 's/^/held-/' | wq-submit --lines --queue q >/dev/null
	start mon rcli monitor
	sleep 0.3
	start w1 wq-worker --name w1 --queue q --heartbeat 0.2 --sleep 0
	# eight beats, however long a loaded machine takes to give them
	wait_for 60 eval '[ "$(grep -c "\"EVALSHA\" \"[0-9a-f]*\" \"[0-9]*\" \"wq:nodes\"" "$(suite_dir)/mon.log")" -ge 8 ]'
	claims=$(grep -c '"EVALSHA" "[0-9a-f]*" "[0-9]*" "wq:[0-9]*:active:w1"' "$(suite_dir)/mon.log")
	echo "# $claims claims" >&3
	# the claims of its start (one a partition at most), none at its beats
	[ "$claims" -le 4 ]
	wq-queue resume q >/dev/null
	wait_for 20 eval '[ "$(in_parts queue:q)" = 0 ]'
}

@test "wq-queue purge: the pending jobs of every partition, in batches" {
	seq 1100 | wq-submit --lines --queue p | jq -r .callback >"$(suite_dir)/ids"
	seq 3 | sed 's/^/later-/' | wq-submit --lines --queue p --in 1h >/dev/null
	keep=$(wq-submit --queue other keep | jq -r .callback)
	run wq-queue purge p --yes
	assert_success
	echo "$output" | jq -e '.cancelled == 1103'
	[ "$(in_parts queue:p)" = 0 ]
	for p in "${PFX[@]}"; do
		[ "$(rcli zcard "$p:delayed:p")" = 0 ]
	done
	pstatus_is "$(head -1 "$(suite_dir)/ids")" cancelled
	pstatus_is "$(tail -1 "$(suite_dir)/ids")" cancelled
	pstatus_is "$keep" pending
}

@test "limits and groups: refused with one line, exit 2, nothing changed" {
	run -2 wq-queue limit q --concurrency 2
	assert_output 'wq-queue: limits need a namespace of one partition; this one has 4'
	run -2 wq-queue limit q --rate 5/s
	[ -z "$(rcli --scan --pattern '*limit:*')" ]
	run -2 wq-submit --group g x
	assert_output 'wq-submit: groups (--group) need a namespace of one partition; this one has 4'
	run -2 wq-submit --json '{"data":1,"group":"g"}'
	[ -z "$(rcli --scan --pattern 'wq:*:job:*')" ]
	# at P = 1 the same work (tests/limits.bats has the rest)
	redis_flush
	WQ_PARTITIONS=1 wq-queue limit q --concurrency 2 >/dev/null
	[ "$(rcli hget wq:limit:q concurrency)" = 2 ]
	WQ_PARTITIONS=1 wq-submit --group g x >/dev/null
}

@test "--after across partitions: each key in its job's partition; worked, failed" {
	p=$(wq-submit --queue held parent | jq -r .callback)
	for i in $(seq 8); do
		wq-submit --after "$p" "child-$i" | jq -r .callback
	done >"$(suite_dir)/kids"
	# some child is in another partition than its parent
	grep -v "^$p$" "$(suite_dir)/kids" | while read -r c; do
		part_of "$c"
	done | grep -qv "^$(part_of "$p")$"
	while read -r c; do
		pstatus_is "$c" waiting
		[ "$(rcli sismember "$(pfx "$p"):children:$p" "$c")" = 1 ]
		[ "$(rcli smembers "$(pfx "$c"):wait:$c")" = "$p" ]
	done <"$(suite_dir)/kids"
	# no step left in any partition
	for q in "${PFX[@]}"; do [ "$(rcli zcard "$q:deps")" = 0 ]; done
	start w1 wq-worker --queue held --queue default --jq .
	while read -r c; do
		wait_for 20 pstatus_is "$c" worked
	done <"$(suite_dir)/kids"
	# a parent that fails: its children fail, naming it
	stop_started
	f=$(wq-submit --queue held --max-attempts 1 --json '{"data":"x"}' |
	    jq -r .callback)
	seq 4 | sed 's/^/c-/' | wq-submit --lines --after "$f" | jq -r .callback >"$(suite_dir)/kids"
	start w2 wq-worker --queue held --queue default --jq 'error("no")'
	while read -r c; do
		wait_for 20 pstatus_is "$c" failed
		[ "$(rcli hget "$(pfx "$c"):job:$c" e)" = "parent $f failed" ]
	done <"$(suite_dir)/kids"
	wait_for 20 eval 'for q in "${PFX[@]}"; do [ "$(rcli zcard "$q:deps")" = 0 ] || exit 1; done'
}

@test "--after: a parent cancelled; the sweeper cancels its children in their partitions" {
	p=$(wq-submit --queue held parent | jq -r .callback)
	for i in $(seq 8); do
		wq-submit --after "$p" "child-$i" | jq -r .callback
	done >"$(suite_dir)/kids"
	run wq-cancel "$p"
	assert_success
	# its step is noted in its own partition, due at once
	[ "$(rcli zscore "$(pfx "$p"):deps" "p:$p")" != "" ]
	start w1 wq-worker --queue none --heartbeat 0.2 --sleep 0
	while read -r c; do
		wait_for 30 pstatus_is "$c" cancelled
		[ "$(rcli hget "$(pfx "$c"):job:$c" e)" = "parent $p was cancelled" ]
		[ "$(rcli exists "$(pfx "$c"):wait:$c")" = 0 ]
	done <"$(suite_dir)/kids"
	wait_for 30 eval 'for q in "${PFX[@]}"; do [ "$(rcli zcard "$q:deps")" = 0 ] || exit 1; done'
}

@test "--after: the sweeper finishes the steps a dead process left, in every partition" {
	p=$(wq-submit --queue held parent | jq -r .callback)
	for i in $(seq 8); do
		wq-submit --after "$p" "child-$i" | jq -r .callback
	done >"$(suite_dir)/kids"
	# the parent worked and its step was noted; its worker died before
	# telling the children
	rcli hset "$(pfx "$p"):job:$p" s worked >/dev/null
	rcli zadd "$(pfx "$p"):deps" 1 "p:$p" >/dev/null
	# and a child whose link a dead API left to the sweep (link_later)
	l=$(wq-submit --queue held late | jq -r .callback)
	rcli hset "$(pfx "$l"):job:$l" s waiting h "[\"$p\"]" >/dev/null
	rcli sadd "$(pfx "$l"):wait:$l" "$p" >/dev/null
	rcli lrem "$(pfx "$l"):queue:held" 0 "$l" >/dev/null
	rcli zadd "$(pfx "$l"):deps" 1 "c:$l" >/dev/null
	# a node that sweeps, and claims nothing of theirs
	start w1 wq-worker --queue none --heartbeat 0.2 --sleep 0
	while read -r c; do
		wait_for 30 pstatus_is "$c" pending
	done <"$(suite_dir)/kids"
	wait_for 30 pstatus_is "$l" pending
	wait_for 30 eval 'for q in "${PFX[@]}"; do [ "$(rcli zcard "$q:deps")" = 0 ] || exit 1; done'
	grep -q 'finished for a process that died' "$(suite_dir)/w1.log"
}

@test "wq-cron at P=4: schedules in the control partition, their jobs in theirs" {
	wq-cron add tick '@every 1s' hello --ttl 600
	[ "$(rcli exists wq:schedule:tick)" = 1 ]
	start w1 wq-worker --jq '"ran " + .' --heartbeat 0.2 --quiet
	wait_for 30 eval '[ "$(rcli --scan --pattern "wq:*:job:*" | wc -l)" -ge 3 ]'
	for k in $(rcli --scan --pattern 'wq:*:job:*'); do
		id=${k##*:}
		[ "$k" = "$(pfx "$id"):job:$id" ]
		wait_for 20 pstatus_is "$id" worked
	done
	[ -z "$(rcli --scan --pattern 'wq:*:schedule*')" ]
	# a schedule's job of a group would be refused at each firing
	run -2 wq-cron add g '@every 1s' '{"data":1,"group":"g"}' --json
	assert_output 'wq-cron: groups need a namespace of one partition; this one has 4'
	[ "$(rcli exists wq:schedule:g)" = 0 ]
	[ -z "$(rcli --scan --pattern 'wq:*:cron*')" ]
}

@test "API at P=4: cancel (a working job), retry, pause, resume, purge, limits and groups refused" {
	fail_jobs 6
	id=$(wq-submit --queue slow slow | jq -r .callback)
	start w1 wq-worker --queue slow --exec "sleep $STUCK & sleep $STUCK; echo done"
	wait_for 20 stuck_running
	api_start api
	api=(--api "$(api_url api)")
	run wq-cancel "${api[@]}" "$id"
	assert_success
	[ "$(echo "$output" | jq -r .status)" = cancelled ]
	wait_for 20 eval '! stuck_running'
	pstatus_is "$id" cancelled
	run wq-retry "${api[@]}" "$id"
	assert_success
	echo "$output" | jq -e '.status == "pending"'
	# one call of ?max=N may take from several partitions
	http POST "$(api_url api)/api/v1/queues/default/retry?max=4" -d '{}'
	[ "$code" = 200 ]
	echo "$body" | jq -e '.retried == 4 and .taken == 4 and (.jobs | length) == 4'
	run wq-retry "${api[@]}" --all
	assert_success
	[ "$(echo "$output" | jq -r .status | sort | uniq -c | awk '{print $1, $2}')" = "2 pending" ]
	[ "$(in_parts dead:default)" = 0 ]
	run wq-queue "${api[@]}" pause q
	assert_success
	for p in "${PFX[@]}"; do [ "$(rcli sismember "$p:paused" q)" = 1 ]; done
	run wq-queue "${api[@]}" resume q
	assert_success
	for p in "${PFX[@]}"; do [ "$(rcli sismember "$p:paused" q)" = 0 ]; done
	seq 20 | wq-submit --lines --queue q >/dev/null
	run wq-queue "${api[@]}" purge q --yes
	assert_success
	echo "$output" | jq -e '.cancelled == 20'
	[ "$(in_parts queue:q)" = 0 ]
	http PUT "$(api_url api)/api/v1/queues/q/limits" \
	    -H 'Content-Type: application/json' -d '{"concurrency":2}'
	[ "$code" = 400 ]
	[[ $body == *'limits need a namespace of one partition; this one has 4'* ]]
	run -2 wq-queue "${api[@]}" limit q --concurrency 2
	assert_output --partial 'limits need a namespace of one partition; this one has 4'
	run -2 wq-submit "${api[@]}" --group g x
	assert_output --partial 'need a namespace of one partition; this one has 4'
	http POST "$(api_url api)/api/v1/work" -d '{"data":1,"group":"g"}'
	[ "$code" = 400 ]
	[[ $body == *'need a namespace of one partition; this one has 4'* ]]
	[ -z "$(rcli --scan --pattern '*limit:*')" ]
}

@test "API at P=4: ?wait=S answers when the job ends, on a sharded hint (SSUBSCRIBE of done:<id> in the job's partition)" {
	local d id
	d=$(suite_dir)
	api_start api
	id=$(wq-submit --queue later x | jq -r .callback)
	start mon rcli monitor
	wait_for 10 test -s "$d/mon.log"
	start cw curl -s --max-time 60 "$(api_url api)/api/v1/work/$id?wait=50"
	wait_for 20 eval '[ "$(rcli pubsub shardnumsub "$(pfx "$id"):done:$id" | tail -1)" = 1 ]'
	start w1 wq-worker --queue later --sleep 0
	wait_for 20 grep -q '"status":"worked"' "$d/cw.log"
	grep -q "\"SPUBLISH\" \"$(pfx "$id"):done:$id\" \"worked\"" "$d/mon.log"
	# the channel dropped once answered
	wait_for 10 eval '[ "$(rcli pubsub shardnumsub "$(pfx "$id"):done:$id" | tail -1)" = 0 ]'
}
