#!/usr/bin/env bats
# A namespace of several partitions (docs/DESIGN.md, section 25) on one
# Redis: P fixed at the first use, jobs spread by id, submission, status,
# claims across partitions, a dead node's jobs put back in every
# partition, a node leaving, and an old process of a taken name fenced.

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() {
	redis_flush
	export WQ_PARTITIONS=4
}
teardown() { stop_started; }

# part_prefixes NS P: the partitions' prefixes, computed here from the
# rule (the first k whose CRC16 slot of "NS:k" is in the p-th of P equal
# ranges of the 16384 slots), one a line.
part_prefixes() {
	python3 -c '
import binascii, sys
ns, n = sys.argv[1], int(sys.argv[2])
for p in range(n):
    k = 0
    while binascii.crc_hqx(("%s:%d" % (ns, k)).encode(), 0) % 16384 * n // 16384 != p:
        k += 1
    print("%s:%d" % (ns, k))' "$1" "$2"
}

# part_of ID P: the partition of a job (its id's first 8 hex digits mod P).
part_of() {
	echo $(( 16#${1:0:8} % $2 ))
}

node() {
	local name=$1
	shift
	start "$name" wq-worker --name "$name" --heartbeat 0.2 \
		--node-timeout 2 "$@"
}

# ids_in FILE: the callback ids of wq-submit's answers.
ids_in() {
	jq -r .callback "$1"
}

# statuses: "status attempts" of each id on stdin, counted.
statuses() {
	wq-status | jq -r '"\(.status) \(.attempts)"' | sort | uniq -c |
	    awk '{ print $1, $2, $3 }'
}

@test "P is fixed at a namespace's first use: a later --partitions that disagrees is refused, nothing written" {
	run wq-submit --partitions 0 x
	assert_failure 2
	assert_output --partial "bad --partitions"
	run wq-submit --partitions 1025 x
	assert_failure 2
	seq 10 | wq-submit --lines >/dev/null
	[ "$(rcli get wq:partitions)" = 4 ]
	n=$(rcli dbsize)
	run env WQ_PARTITIONS=8 wq-submit new-job
	assert_failure 2
	[ "${#lines[@]}" = 1 ]
	assert_output --partial "namespace wq has 4 partitions, not 8"
	[ "$(rcli dbsize)" = "$n" ]
	# without the setting a command takes the namespace's number
	id=$(printf 1 | md5sum | cut -c1-32 | tr a-f A-F)
	run env -u WQ_PARTITIONS wq-status "$id"
	assert_success
	echo "$output" | jq -e '.status == "pending" and .data == "1"'
	# a namespace used before without partitions has one
	unset WQ_PARTITIONS
	wq-submit --namespace old x >/dev/null
	[ "$(rcli get old:partitions)" = 1 ]
	[ "$(rcli exists "old:job:$(printf x | md5sum | cut -c1-32 | tr a-f A-F)")" = 1 ]
	run wq-submit --namespace old --partitions 2 y
	assert_failure 2
}

@test "jobs go to the partition of their id, under prefixes spread over the slots; one partition keeps the old keys" {
	seq 400 | wq-submit --lines >"$(suite_dir)/acks"
	mapfile -t pre < <(part_prefixes wq 4)
	total=0
	for p in 0 1 2 3; do
		n=$(rcli llen "${pre[$p]}:queue:default")
		[ "$n" -gt 50 ]
		total=$(( total + n ))
		[ "$(rcli get "${pre[$p]}:stats:submitted")" = "$n" ]
	done
	[ "$total" = 400 ]
	while read -r id; do
		p=$(part_of "$id" 4)
		[ "$(rcli exists "${pre[$p]}:job:$id")" = 1 ]
	done < <(ids_in "$(suite_dir)/acks" | head -40)
	# nothing of a job under the control prefix
	[ "$(rcli exists wq:queue:default)" = 0 ]
	# the prefixes: one in each quarter of the slots
	for p in 0 1 2 3; do
		k=${pre[$p]#wq:}
		slot=$(python3 -c 'import binascii,sys; print(binascii.crc_hqx(sys.argv[1].encode(),0) % 16384)' "wq:$k")
		[ $(( slot * 4 / 16384 )) = "$p" ]
	done
	# P = 1: the keys as they always were
	WQ_PARTITIONS=1 wq-submit --namespace one a >/dev/null
	[ "$(rcli llen one:queue:default)" = 1 ]
}

@test "a submission's answers keep the input order; a duplicate is found in its partition" {
	seq 100 | wq-submit --lines >"$(suite_dir)/acks"
	[ "$(jq -r .data "$(suite_dir)/acks" | paste -sd,)" = "$(seq 100 | paste -sd,)" ]
	run sh -c 'seq 95 105 | wq-submit --lines'
	assert_success
	[ "$(echo "$output" | jq -r 'select(.duplicate) | .data' | paste -sd,)" = "$(seq 95 100 | paste -sd,)" ]
	[ "$(echo "$output" | jq -r .data | paste -sd,)" = "$(seq 95 105 | paste -sd,)" ]
}

@test "a worker drains every partition; waiters see every job end" {
	seq 600 | wq-submit --lines >"$(suite_dir)/acks"
	node w1 --sleep 0
	run timeout -k 5 120 sh -c "jq -r .callback '$(suite_dir)/acks' | wq-status --wait"
	assert_success
	[ "$(echo "$output" | jq -r .status | sort | uniq -c | awk '{print $1, $2}')" = "600 worked" ]
	mapfile -t pre < <(part_prefixes wq 4)
	for p in 0 1 2 3; do
		[ "$(rcli llen "${pre[$p]}:queue:default")" = 0 ]
		[ "$(rcli get "${pre[$p]}:stats:worked")" -gt 0 ]
	done
	# retries are promoted in their partitions (the sweep, the due hint)
	seq 701 708 | wq-submit --lines --queue f --max-attempts 2 \
		>"$(suite_dir)/f"
	node w2 --exec false --queue f
	run timeout -k 5 120 sh -c "jq -r .callback '$(suite_dir)/f' | wq-status --wait"
	[ "$(jq -r .callback "$(suite_dir)/f" | statuses)" = "8 failed 2" ]
}

# Eight jobs, two in each partition: data chosen by their ids.
two_each() {
	local n=0 i=0 id p c0=0 c1=0 c2=0 c3=0
	while [ $n -lt 8 ]; do
		i=$(( i + 1 ))
		id=$(printf 'job-%d' "$i" | md5sum | cut -c1-32 | tr a-f A-F)
		p=$(part_of "$id" 4)
		eval "c=\$c$p"
		# shellcheck disable=SC2154
		[ "$c" -ge 2 ] && continue
		eval "c$p=\$(( c + 1 ))"
		echo "job-$i"
		n=$(( n + 1 ))
	done
}

active_in_all() {
	local p
	for p in "${pre[@]}"; do
		[ "$(rcli llen "$p:active:$1")" = 2 ] || return 1
	done
}

@test "kill -9 of a worker holding jobs in every partition: each put back once, worked by another" {
	mapfile -t pre < <(part_prefixes wq 4)
	two_each | wq-submit --lines >"$(suite_dir)/acks"
	node victim --sleep 60 --concurrency 8
	wait_for 30 active_in_all victim
	kill -9 "$(pid_of victim)"
	node rescuer --sleep 0
	run timeout -k 5 120 sh -c "jq -r .callback '$(suite_dir)/acks' | wq-status --wait"
	assert_success
	[ "$(ids_in "$(suite_dir)/acks" | statuses)" = "8 worked 2" ]
	for p in "${pre[@]}"; do
		[ "$(rcli llen "$p:active:victim")" = 0 ]
	done
	[ "$(rcli zcard wq:reaping)" = 0 ]
	# counted once: put back in each partition, not twice
	total=0
	for p in "${pre[@]}"; do
		total=$(( total + $(rcli get "$p:stats:reclaimed") ))
	done
	[ "$total" = 8 ]
	wait_for 10 grep -q "8 job(s) put back" "$(suite_dir)/rescuer.log"
}

@test "a worker that leaves hands back what it holds in every partition, not counted" {
	mapfile -t pre < <(part_prefixes wq 4)
	two_each | wq-submit --lines >"$(suite_dir)/acks"
	node leaver --sleep 60 --concurrency 8 --grace 0.5
	wait_for 30 active_in_all leaver
	kill -TERM "$(pid_of leaver)"
	wait_for 30 eval '! kill -0 "$(pid_of leaver)"'
	[ "$(ids_in "$(suite_dir)/acks" | statuses)" = "8 pending 0" ]
	for p in "${pre[@]}"; do
		[ "$(rcli llen "$p:active:leaver")" = 0 ]
		[ "$(rcli llen "$p:queue:default")" = 2 ]
	done
}

@test "an old process of a name taken since cannot claim: the new instance's jobs stay its own" {
	mapfile -t pre < <(part_prefixes wq 4)
	two_each | wq-submit --lines >"$(suite_dir)/acks"
	# (a bystander sweeps: the frozen node cannot reap itself)
	node other --sleep 0 --queue other
	node w --sleep 60 --concurrency 8
	wait_for 30 active_in_all w
	old=$(pid_of w)
	kill -STOP "$old"
	# reaped: its jobs back (an attempt spent), then a new process of
	# the name takes them
	wait_for 30 eval '[ "$(rcli zscore wq:nodes w)" = "" ]'
	start w2 wq-worker --name w --heartbeat 0.2 --node-timeout 2 \
		--sleep 60 --concurrency 8
	wait_for 30 active_in_all w
	gen_new=$(rcli hget wq:node:w gen)
	kill -CONT "$old"
	# the old process learns it is no longer the member and stops
	# (its name is taken by a live node): it never held a job again
	wait_for 30 eval '! kill -0 "$old"'
	for p in "${pre[@]}"; do
		[ "$(rcli hget "$p:owners" w)" = "$gen_new" ]
		[ "$(rcli llen "$p:active:w")" = 2 ]
	done
	[ "$(ids_in "$(suite_dir)/acks" | statuses)" = "8 working 2" ]
}

# shard_chans PATTERN: how many sharded channels matching PATTERN have
# subscribers.
shard_chans() {
	rcli pubsub shardchannels "$1" | grep -c . || true
}

@test "P = 48: the hints are sharded: an idle worker wakes on a submit, wq-status --wait on a job's end, by SPUBLISH in the job's partition, no PUBLISH" {
	local d id pfx
	d=$(suite_dir)
	export WQ_PARTITIONS=48
	start mon rcli monitor
	wait_for 10 test -s "$d/mon.log"
	# beats far apart: only a hint wakes it in time
	start w1 wq-worker --name w1 --queue q --heartbeat 30 --node-timeout 60 --sleep 0
	wait_for 20 eval '[ "$(shard_chans "wq:*:wake:q")" = 48 ]'
	[ "$(shard_chans "wq:*:due:q")" = 48 ]
	[ "$(shard_chans wq:msg:w1)" = 1 ]
	sleep 0.5
	id=$(echo 1 | wq-submit --lines --queue q | jq -r .callback)
	wait_for 10 eval '[ "$(wq-status "$id" | jq -r .status)" = worked ]'
	# the hint went to the job's partition, and woke the worker's claim
	pfx=$(rcli --scan --pattern "wq:*:job:$id" | sed 's/:job:.*//')
	grep -q "\"SPUBLISH\" \"$pfx:wake:q\" \"$pfx:\"" "$d/mon.log"
	# a waiter: its done:<id> subscribed in the job's partition
	id=$(echo 2 | wq-submit --lines --queue r | jq -r .callback)
	pfx=$(rcli --scan --pattern "wq:*:job:$id" | sed 's/:job:.*//')
	start ws timeout -k 5 30 wq-status --wait "$id"
	wait_for 20 eval '[ "$(shard_chans "$pfx:done:$id")" = 1 ]'
	start w2 wq-worker --name w2 --queue r --heartbeat 30 --node-timeout 60 --sleep 0
	wait_for 20 grep -q '"status":"worked"' "$d/ws.log"
	grep -q "\"SPUBLISH\" \"$pfx:done:$id\" \"worked\"" "$d/mon.log"
	grep -q '"SPUBLISH" "wq:events" "node joined w2"' "$d/mon.log"
	# no hint by PUBLISH, nor a subscriber of the kind
	run grep -c '"PUBLISH"\|"SUBSCRIBE"' "$d/mon.log"
	[ "$output" = 0 ]
}
