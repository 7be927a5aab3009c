#!/usr/bin/env bats
# A namespace of 48 partitions (WQ_PARTITIONS=48) on a real Redis Cluster
# of 3 primaries and 3 replicas (rcluster_start, helpers.bash): every
# command goes to the primary of its key's slot through the cluster
# client (docs/DESIGN.md, sections 22 and 24).  Each primary holds 16
# partitions; a queue of a few thousand jobs is submitted and drained
# with work on every primary (the balance test of issue 14); the default
# of 48 on a cluster (an older namespace keeps its P); wq-status by
# id and --wait, the hints sharded (SPUBLISH and SSUBSCRIBE at each
# channel's primary); a worker killed with SIGKILL has its jobs put back;
# --wait-replicas waits on every primary; job control; the API, each of
# its commands to its key's primary (submit, status, ?wait=, the readers
# fanned out); a slot moved under a worker (sunsubscribe: it subscribes
# again there); the primary of the control partition (membership, the
# sweep gate, 16 partitions too) failed over under --wait-replicas 1,
# the API going on after it (last).

load helpers
load api-helpers
bats_require_minimum_version 1.5.0

setup_file() {
	rcluster_start
	export WQ_REDIS=$WQ_RCLUSTER_URL WQ_PARTITIONS=48
}
teardown_file() {
	rcluster_done
}
setup() {
	rcluster_flush
}
teardown() {
	stop_started
}

# tags_on PORT: the partitions' hash tags ({wq:N}) of the keys the node
# holds, each once.
tags_on() {
	redis-cli -p "$1" --scan --pattern '{wq:*}:*' |
	    sed -n 's/^{\(wq:[0-9]*\)}:.*/\1/p' | sort -u
}

# calls_on PORT CMD: the calls of CMD the node served since its stats
# were reset.
calls_on() {
	redis-cli -p "$1" info commandstats |
	    sed -n "s/^cmdstat_$2:calls=\\([0-9]*\\),.*/\\1/p" | tr -d '\r'
}

# worked IDS: how many of the jobs of the file IDS have worked.
worked() {
	timeout -k 5 60 wq-status <"$1" 2>>"$(suite_dir)/worked.err" |
	    grep -c '"status":"worked"'
}

@test "partitions-cluster: 16 partitions a primary; a queue of 3000 jobs drained with work on every primary" {
	local d p n tags slot total=0 all=0
	d=$(suite_dir)
	seq 3000 | timeout -k 5 120 wq-submit --lines | jq -r .callback >"$d/ids"
	[ "$(wc -l <"$d/ids")" -eq 3000 ]
	[ "$(sort -u "$d/ids" | wc -l)" -eq 3000 ]
	[ "$(redis-cli -p "$(rcluster_primaries | head -1)" -c get '{wq}:partitions')" = 48 ]
	for p in $(rcluster_primaries); do
		tags=$(tags_on "$p")
		n=$(grep -c . <<<"$tags")
		echo "primary $p: $n partitions"
		[ "$n" -eq 16 ]
		# each tag's slot is this node's, and holds keys
		for t in $(head -3 <<<"$tags"); do
			slot=$(redis-cli -p "$p" cluster keyslot "{$t}:x")
			[ "$(rcluster_slot_primary "$slot")" = "$p" ]
			[ "$(redis-cli -p "$p" cluster countkeysinslot "$slot")" -gt 0 ]
		done
		total=$((total + n))
		all=$((all + $(redis-cli -p "$p" --scan --pattern '{wq:*}:job:*' | wc -l)))
	done
	[ "$total" -eq 48 ]
	[ "$all" -eq 3000 ]
	for p in $(rcluster_primaries); do
		redis-cli -p "$p" config resetstat >/dev/null
	done
	start w1 wq-worker --sleep 0 --concurrency 8
	wait_count 3000 60 worked "$d/ids"
	# the drain's scripts ran on every primary
	for p in $(rcluster_primaries); do
		n=$(calls_on "$p" evalsha)
		echo "primary $p: ${n:-0} EVALSHA calls"
		[ "${n:-0}" -gt 0 ]
	done
	# no command was turned away and none failed
	run log_of w1
	refute_output --partial 'non local key'
	refute_output --partial '"event":"redis"'
}

@test "partitions-cluster: wq-status by id and --wait; the hints sharded (SPUBLISH, SSUBSCRIBE at each channel's primary), none by PUBLISH" {
	local d id p
	d=$(suite_dir)
	for p in $(rcluster_primaries); do
		redis-cli -p "$p" config resetstat >/dev/null
	done
	seq 200 | timeout -k 5 60 wq-submit --lines | jq -r .callback >"$d/ids"
	[ "$(wc -l <"$d/ids")" -eq 200 ]
	id=$(head -1 "$d/ids")
	run timeout -k 5 30 wq-status "$id"
	assert_success
	[ "$(jq -r .status <<<"$output")" = pending ]
	[ "$(jq -r .data <<<"$output")" = 1 ]
	start w1 wq-worker --sleep 0 --concurrency 4
	run timeout -k 5 120 wq-status --wait <"$d/ids"
	assert_success
	[ "$(grep -c '"status":"worked"' <<<"$output")" -eq 200 ]
	run timeout -k 5 30 wq-status "$(tail -1 "$d/ids")"
	assert_success
	[ "$(jq -r .status <<<"$output")" = worked ]
	[ "$(jq -r .data <<<"$output")" = 200 ]
	# the worker's wake:default of its 16 partitions at each primary,
	# and the hints of the jobs of its partitions published there
	for p in $(rcluster_primaries); do
		[ "$(redis-cli -p "$p" pubsub shardchannels '*:wake:default' | grep -c .)" = 16 ]
		[ -z "$(calls_on "$p" publish)" ]
		[ "$(calls_on "$p" spublish)" -gt 0 ]
	done
}

@test "partitions-cluster: a worker killed with SIGKILL: its jobs, on every primary, are put back and worked" {
	local d id p n
	d=$(suite_dir)
	seq 30 | timeout -k 5 30 wq-submit --lines | jq -r .callback >"$d/ids"
	[ "$(wc -l <"$d/ids")" -eq 30 ]
	start w1 wq-worker --sleep 60 --concurrency 30 --name victim \
	    --node-timeout 2 --heartbeat 0.5
	wait_for 30 sh -c "[ \$(timeout -k 5 30 wq-status <'$d/ids' | grep -c '\"status\":\"working\"') -eq 30 ]"
	# the victim's claims are spread over the primaries
	for p in $(rcluster_primaries); do
		n=$(redis-cli -p "$p" --scan --pattern '{wq:*}:active:victim' | wc -l)
		echo "primary $p: active lists of victim: $n"
		[ "$n" -gt 0 ]
	done
	kill -9 "$(pid_of w1)"
	start w2 wq-worker --sleep 0 --concurrency 4 --name rescuer \
	    --node-timeout 2 --heartbeat 0.5
	wait_count 30 60 worked "$d/ids" || { log_of w2; timeout 10 wq-peers --all; false; }
	run timeout -k 5 30 wq-status <"$d/ids"
	assert_success
	[ "$(grep -c '"status":"worked"' <<<"$output")" -eq 30 ]
	for id in $(cat "$d/ids"); do
		[ "$(timeout -k 5 30 wq-status "$id" | jq -r .attempts)" = 2 ]
	done
	for p in $(rcluster_primaries); do
		[ -z "$(redis-cli -p "$p" --scan --pattern '{wq:*}:active:victim')" ] ||
		    { redis-cli -p "$p" --scan --pattern '{wq:*}:active:victim'; return 1; }
	done
}

@test "partitions-cluster: --wait-replicas 1 waits on every primary written to" {
	local d p n
	d=$(suite_dir)
	seq 300 | timeout -k 5 60 wq-submit --lines --wait-replicas 1 \
	    --wait-timeout 5000 | jq -r .callback >"$d/ids"
	[ "$(wc -l <"$d/ids")" -eq 300 ]
	for p in $(rcluster_primaries); do
		n=$(calls_on "$p" wait)
		echo "primary $p: ${n:-0} WAIT calls"
		[ "${n:-0}" -gt 0 ]
	done
	start w1 wq-worker --sleep 0 --concurrency 4 --wait-replicas 1 \
	    --wait-timeout 5000
	wait_count 300 60 worked "$d/ids" || { log_of w1 | tail -20; false; }
	run log_of w1
	refute_output --partial replicas
}

@test "partitions-cluster: job control on every primary: cancel, retry, pause and resume, purge" {
	local d p
	d=$(suite_dir)
	seq 60 | timeout -k 5 30 wq-submit --lines | jq -r .callback >"$d/ids"
	[ "$(wc -l <"$d/ids")" -eq 60 ]
	run -0 timeout -k 5 30 wq-cancel <"$d/ids"
	[ "$(grep -c '"status":"cancelled"' <<<"$output")" -eq 60 ]
	run -0 timeout -k 5 30 wq-retry <"$d/ids"
	[ "$(grep -c '"status":"pending"' <<<"$output")" -eq 60 ]
	run -0 timeout -k 5 30 wq-queue pause default
	# paused in every partition, on every primary
	for p in $(rcluster_primaries); do
		[ "$(redis-cli -p "$p" --scan --pattern '{wq:*}:paused' | wc -l)" -eq 16 ]
	done
	run -0 timeout -k 5 30 wq-queue resume default
	run -0 timeout -k 5 30 wq-queue purge default --yes
	run timeout -k 5 30 wq-status <"$d/ids"
	[ "$(grep -c '"status":"cancelled"' <<<"$output")" -eq 60 ]
}

@test "partitions-cluster: a new namespace on a cluster has 48 partitions by default, one made with 1 keeps it; limits need 1" {
	local p
	p=$(rcluster_primaries | head -1)
	env -u WQ_PARTITIONS timeout -k 5 30 wq-submit --namespace fresh x \
	    >/dev/null
	[ "$(redis-cli -p "$p" -c get '{fresh}:partitions')" = 48 ]
	run -2 env -u WQ_PARTITIONS wq-queue --namespace fresh limit default \
	    --concurrency 2
	assert_output 'wq-queue: limits need a namespace of one partition; this one has 48'
	WQ_PARTITIONS=1 timeout -k 5 30 wq-submit --namespace one x >/dev/null
	env -u WQ_PARTITIONS timeout -k 5 30 wq-submit --namespace one y \
	    >/dev/null
	[ "$(redis-cli -p "$p" -c get '{one}:partitions')" = 1 ]
	env -u WQ_PARTITIONS wq-queue --namespace one limit default \
	    --concurrency 2 >/dev/null
	# a namespace used before partitions (no partitions key) keeps 1
	redis-cli -p "$p" -c del '{one}:partitions' >/dev/null
	env -u WQ_PARTITIONS timeout -k 5 30 wq-submit --namespace one z \
	    >/dev/null
	[ "$(redis-cli -p "$p" -c get '{one}:partitions')" = 1 ]
	[ "$(env -u WQ_PARTITIONS wq-queue --namespace one ls |
	    jq -r 'select(.name == "default") | .pending')" = 3 ]
}

# on_primaries IDS: how many primaries hold a record of the jobs of IDS.
on_primaries() {
	local p n=0
	for p in $(rcluster_primaries); do
		if [ "$(redis-cli -p "$p" --scan --pattern '{wq:*}:job:*' |
		    grep -c -F -f "$1")" -gt 0 ]; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}

@test "partitions-cluster: the API at P = 48: submit, status by id, ?wait=, readers fanned out, 400s" {
	local d url i id n p key
	d=$(suite_dir)/api
	mkdir -p "$d"
	: >"$d/ids"
	api_start a1
	url=$(api_url a1)
	for i in $(seq 12); do
		http POST "$url/api/v1/work" -d "{\"data\":\"j$i\"}"
		[ "$code" = 200 ] || { echo "$code $body"; return 1; }
		jq -r .callback <<<"$body" >>"$d/ids"
	done
	# the jobs are on more than one primary (48 partitions, 12 ids)
	[ "$(on_primaries "$d/ids")" -ge 2 ]
	# status by id, each to its partition's primary
	while read -r id; do
		http GET "$url/api/v1/work/$id"
		[ "$code" = 200 ] && [ "$(jq -r .status <<<"$body")" = pending ] ||
		    { echo "$id: $code $body"; return 1; }
	done <"$d/ids"
	# the readers fan out over the partitions of every primary
	http GET "$url/api/v1/queues"
	jq -e '.default.pending == 12' <<<"$body"
	http GET "$url/api/v1/stats"
	jq -e '.totals.submitted == 12 and .queues.default.pending == 12' <<<"$body"
	http GET "$url/api/v1/recent?limit=50"
	jq -e 'length == 12' <<<"$body"
	http GET "$url/metrics"
	grep -qx 'wq_jobs_submitted_total 12' <<<"$body"
	# the event stream: every partition's, merged
	start sse1 curl -s -N "$url/api/v1/events"
	n=$(timeout -k 5 30 wq-events | wc -l)
	[ "$n" -ge 12 ]
	wait_for 20 eval '[ "$(grep -c "^id: " "$d/../sse1.log")" -ge "$n" ]'
	# scripts unknown to the nodes: loaded on each where it is sent
	for p in $(rcluster_primaries); do
		redis-cli -p "$p" script flush >/dev/null
	done
	http POST "$url/api/v1/jobs/$(head -1 "$d/ids")/cancel" -d ""
	[ "$code" = 200 ] || { echo "$code $body"; return 1; }
	http POST "$url/api/v1/jobs/$(head -1 "$d/ids")/retry" -d ""
	[ "$code" = 200 ] || { echo "$code $body"; return 1; }
	# a request that waits, answered once its job is worked: the worker
	# starts after the request went out, and the request is still out
	id=$(tail -1 "$d/ids")
	curl -s --max-time 60 "$url/api/v1/work/$id?wait=30" >"$d/waited" &
	local waiter=$!
	kill -0 "$waiter"
	# its done:<id> subscribed (SSUBSCRIBE) at the primary of the job
	for p in $(rcluster_primaries); do
		key=$(redis-cli -p "$p" --scan --pattern "{wq:*}:job:$id")
		[ -z "$key" ] || break
	done
	wait_for 20 has_chan "$p" "${key%job:*}done:$id"
	start w1 wq-worker --sleep 0
	wait "$waiter"
	[ "$(jq -r .status <"$d/waited")" = worked ]
	wait_for 30 sh -c "curl -s '$url/api/v1/stats' | jq -e '.totals.worked == 12 and .queues.default.pending == 0'"
	# bad requests are still 400: a body that is no JSON, limits
	http POST "$url/api/v1/work" -d '{"data":'
	[ "$code" = 400 ]
	http PUT "$url/api/v1/queues/default/limits" \
	    -H 'Content-Type: application/json' -d '{"concurrency":1}'
	[ "$code" = 400 ]
	jq -e '.error | test("one partition")' <<<"$body"
	api_logs_clean
}

# move_slot SLOT FROM TO: the slot (without keys) from one primary to
# another, told to every primary.
move_slot() {
	local from_id to_id p
	from_id=$(redis-cli -p "$2" cluster myid)
	to_id=$(redis-cli -p "$3" cluster myid)
	redis-cli -p "$3" cluster setslot "$1" importing "$from_id" >/dev/null
	redis-cli -p "$2" cluster setslot "$1" migrating "$to_id" >/dev/null
	for p in "$3" "$2" $(rcluster_primaries); do
		redis-cli -p "$p" cluster setslot "$1" node "$to_id" >/dev/null
	done
}

# has_chan PORT CHANNEL: the node has subscribers of the sharded channel.
has_chan() {
	[ "$(redis-cli -p "$1" pubsub shardnumsub "$2" | tail -1)" -ge 1 ]
}

@test "partitions-cluster: a slot moved under a worker: told by sunsubscribe, it subscribes again at the new primary and wakes there" {
	local ch slot from to id
	start w1 wq-worker --sleep 0
	for p in $(rcluster_primaries); do
		wait_for 30 eval "[ \"\$(redis-cli -p $p pubsub shardchannels '*:wake:default' | grep -c .)\" = 16 ]"
	done
	# partition 0's wake channel (its slot holds no key yet)
	ch="{$(python3 -c '
import binascii
k = 0
while binascii.crc_hqx(b"wq:%d" % k, 0) % 16384 * 48 // 16384 != 0:
    k += 1
print("wq:%d" % k)')}:wake:default"
	slot=$(redis-cli -p "$(rcluster_primaries | head -1)" cluster keyslot "$ch")
	from=$(rcluster_slot_primary "$slot")
	to=$(rcluster_primaries | grep -vx "$from" | head -1)
	has_chan "$from" "$ch"
	move_slot "$slot" "$from" "$to"
	wait_for 30 has_chan "$to" "$ch"
	! has_chan "$from" "$ch"
	grep -qF "the slot of channel ${ch%wake:default}" "$(suite_dir)/w1.log"
	# jobs of every partition, that one's too, worked
	seq 100 | timeout -k 5 30 wq-submit --lines | jq -r .callback >"$(suite_dir)/mv"
	run timeout -k 5 60 wq-status --wait <"$(suite_dir)/mv"
	[ "$(grep -c '"status":"worked"' <<<"$output")" -eq 100 ]
	# and back, for the next tests' balance
	stop_started
	rcluster_flush
	move_slot "$slot" "$to" "$from"
	wait_for 30 eval '[ "$(rcluster_slot_primary "$slot")" = "$from" ]'
}

# Last: it fails a primary over.
@test "partitions-cluster: the control partition's primary killed (SIGKILL) under --wait-replicas 1: every acknowledged job worked, the worker and the API go on" {
	local d victim pid bus p id key
	d=$(suite_dir)/fo
	mkdir -p "$d"
	# the primary of {wq}: membership, the sweep gate, the generation,
	# and 16 of the 48 partitions
	victim=$(rcluster_slot_primary "$(redis-cli -p "$(rcluster_primaries | head -1)" cluster keyslot '{wq}:x')")
	pid=$(cat "$(suite_dir)/rc-$victim/pid")
	bus=$(cat "$(suite_dir)/rc-$victim/bus")
	start w1 wq-worker --sleep 0.01 --concurrency 4
	api_start a1 --wait-replicas 1 --wait-timeout 2000
	submit_batches 20 "$d" &
	local submitter=$!
	wait_for 60 test -s "$d/done"
	wait_for 60 grep -qx 4 "$d/done"
	kill -9 "$pid"
	# its replica takes over; the old primary comes back as a replica
	wait_for 60 sh -c "! redis-cli -p $victim ping"
	wait_for 60 eval '[ "$(rcluster_primaries | wc -l)" -eq 3 ]'
	failover_done "$victim" "$bus" "$submitter" "$d" "failover at P = 48"
	# not deaf: its hints subscribed again at the promoted replica
	for p in $(rcluster_primaries); do
		wait_for 60 eval "[ \"\$(redis-cli -p $p pubsub shardchannels '*:wake:default' | grep -c .)\" = 16 ]"
	done
	id=$(echo after | timeout -k 5 30 wq-submit --lines | jq -r .callback)
	run timeout -k 5 60 wq-status --wait "$id"
	assert_success
	[ "$(jq -r .status <<<"$output")" = worked ]
	# the API goes on, on every primary (a 503 while its map catches
	# up is retried), without a restart, its WAITs on the primary
	# written to
	local i
	: >"$d/api-ids"
	for i in $(seq 12); do
		wait_for 30 sh -c "curl -s -o '$d/post' -w '%{http_code}' \
		    -H 'Content-Type: application/json' -d '{\"data\":$i}' \
		    '$(api_url a1)/api/v1/work' | grep -qx 200"
		jq -r .callback <"$d/post" >>"$d/api-ids"
	done
	[ "$(on_primaries "$d/api-ids")" -ge 2 ]
	while read -r id; do
		http GET "$(api_url a1)/api/v1/work/$id?wait=30"
		[ "$(jq -r .status <<<"$body")" = worked ] ||
		    { echo "$id: $code $body"; return 1; }
	done <"$d/api-ids"
	# nor is its subscriber deaf: requests that wait are subscribed at
	# their jobs' primaries, the promoted replica's too, and answered
	# when a worker comes for them
	seq 12 | sed "s/^/late-/" | timeout -k 5 30 wq-submit --lines --queue late |
	    jq -r .callback >"$d/late"
	while read -r id; do
		curl -s --max-time 60 "$(api_url a1)/api/v1/work/$id?wait=50" \
		    >"$d/late-$id" &
	done <"$d/late"
	while read -r id; do
		for p in $(rcluster_primaries); do
			key=$(redis-cli -p "$p" --scan --pattern "{wq:*}:job:$id")
			[ -z "$key" ] || break
		done
		wait_for 30 has_chan "$p" "${key%job:*}done:$id"
	done <"$d/late"
	[ "$(on_primaries "$d/late")" -ge 2 ]
	start w2 wq-worker --queue late --sleep 0
	while read -r id; do
		wait_for 30 grep -q '"status":"worked"' "$d/late-$id"
	done <"$d/late"
	api_logs_clean
}
