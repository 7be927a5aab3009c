#!/usr/bin/env bats
# wq on a real Redis Cluster of 3 primaries and 3 replicas
# (rcluster_start, helpers.bash), through redis-cluster:// URLs: the
# namespace in one hash slot on one primary (docs/DESIGN.md section 24);
# submit, work and wait; membership and messages; the API; bad URLs and
# a cluster that is down (exit 3, nothing written); and a
# failover: the namespace's primary killed with SIGKILL under
# --wait-replicas 1, every acknowledged job worked, the old primary back
# as a replica, the worker, a waiter and the API going on without a
# restart (last).

load helpers
load api-helpers
bats_require_minimum_version 1.5.0

setup_file() {
	rcluster_start
	# a namespace in one slot (a cluster's default is 48 partitions)
	export WQ_REDIS=$WQ_RCLUSTER_URL WQ_PARTITIONS=1
}
teardown_file() {
	rcluster_done
}
setup() {
	rcluster_flush
}
teardown() {
	local p
	# a test that froze nodes and failed halfway leaves none frozen
	for p in $WQ_RCLUSTER_PORTS; do
		kill -CONT "$(cat "$(suite_dir)/rc-$p/pid" 2>/dev/null)" \
		    2>/dev/null || true
	done
	api_teardown
}

# owner KEY: the client port of the primary of KEY's slot.
owner() {
	local p out
	p=$(rcluster_primaries | head -1)
	out=$(redis-cli -p "$p" exists "$1")
	case $out in
	*MOVED*) echo "${out##*:}" ;;
	[0-9]*) echo "$p" ;;
	*) return 1 ;;	# CLUSTERDOWN: no primary serves it now
	esac
}

# moved_from PORT: the namespace's slot is served by a primary other
# than PORT.
moved_from() {
	local o
	o=$(owner '{wq}:x')
	[ -n "$o" ] && [ "$o" != "$1" ] &&
	    redis-cli -p "$o" role | head -1 | grep -qx master
}

# keys_on PORT: how many keys the node holds.
keys_on() {
	redis-cli -p "$1" dbsize
}

@test "oncluster: submit, work and wait; the namespace's keys in one slot, on one primary" {
	local d p home n other
	d=$(suite_dir)
	seq 200 | timeout -k 5 60 wq-submit --lines | jq -r .callback >"$d/ids"
	[ "$(wc -l <"$d/ids")" -eq 200 ]
	start w1 wq-worker --sleep 0 --concurrency 4
	run timeout -k 5 60 wq-status --wait <"$d/ids"
	assert_success
	[ "$(grep -c '"status":"worked"' <<<"$output")" -eq 200 ]
	home=$(owner '{wq}:x')
	n=0
	for p in $(rcluster_primaries); do
		if [ "$p" = "$home" ]; then
			n=$(keys_on "$p")
		else
			# none of wq's keys elsewhere
			[ "$(keys_on "$p")" -eq 0 ] || {
				redis-cli -p "$p" --scan | head -5
				return 1
			}
		fi
	done
	[ "$n" -gt 200 ]
	# and every one under the tag
	run redis-cli -p "$home" --scan
	refute_line --regexp '^[^{]'
	assert_line "{wq}:job:$(head -1 "$d/ids")"
	# another namespace is in its own slot, wherever that is
	other=$(echo 7 | timeout -k 5 30 wq-submit --namespace other --lines |
	    jq -r .callback)
	[ "$(redis-cli -p "$(owner '{other}:x')" exists "{other}:job:$other")" = 1 ]
}

@test "oncluster: workers see each other, messages are answered" {
	start w1 wq-worker --name one --sleep 0
	start w2 wq-worker --name two --sleep 0
	wait_for 20 sh -c 'wq-peers | grep -q "\"name\":\"two\""'
	run timeout -k 5 30 wq-peers
	assert_success
	assert_line --partial '"name":"one"'
	assert_line --partial '"name":"two"'
	run timeout -k 5 30 wq-send one ping
	assert_success
	assert_output --partial '"type":"pong"'
	assert_output --partial '"from":"one"'
}

@test "oncluster: the API submits and answers ?wait=" {
	api_start a1
	http POST "$(api_url a1)/api/v1/work" -d '{"data":"over the cluster"}'
	[ "$code" = 200 ] || { echo "$code $body"; return 1; }
	id=$(jq -r .callback <<<"$body")
	start w1 wq-worker --sleep 0
	http GET "$(api_url a1)/api/v1/work/$id?wait=20"
	[ "$code" = 200 ]
	[ "$(jq -r .status <<<"$body")" = worked ]
	[ "$(jq -r .data <<<"$body")" = "over the cluster" ]
}

@test "oncluster: no reachable seed exits 3, a bad URL 2, one line each" {
	local p
	p=$(free_port)
	run -3 wq-submit --redis "redis-cluster://127.0.0.1:$p" x
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial "no seed node of the Redis Cluster"
	run -2 wq-submit --redis "redis-cluster://127.0.0.1:$p/0" x
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial "bad Redis URL"
	# nothing was written anywhere
	for p in $(rcluster_primaries); do
		[ "$(keys_on "$p")" -eq 0 ]
	done
}

# replica_of PORT: the client port of a replica of the primary PORT.
replica_of() {
	local id
	id=$(redis-cli -p "$1" cluster myid)
	redis-cli -p "$1" cluster nodes |
	    awk -v id="$id" '$4 == id { split($2, a, "[:@]"); print a[2]; exit }'
}

@test "oncluster: a cluster that is down: exit 3, one line, nothing written; then it serves again" {
	local home other rep d
	d=$(suite_dir)
	home=$(owner '{wq}:x')
	other=$(rcluster_primaries | grep -vx "$home" | head -1)
	rep=$(replica_of "$other")
	[ -n "$rep" ]
	# a shard frozen whole (no replica to take over): its slots have no
	# primary, so the cluster says it is down, for every slot
	kill -STOP "$(cat "$d/rc-$other/pid")" "$(cat "$d/rc-$rep/pid")"
	wait_for 30 sh -c "redis-cli -p $home cluster info | grep -q cluster_state:fail"
	run -3 wq-submit --queue down a b c
	local out1=$output n1=${#lines[@]}
	run -3 wq-status C4CA4238A0B923820DCC509A6F75849B
	kill -CONT "$(cat "$d/rc-$other/pid")" "$(cat "$d/rc-$rep/pid")"
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial "CLUSTERDOWN"
	[ "$n1" -eq 1 ]
	[[ $out1 == *CLUSTERDOWN* ]]
	wait_for 30 sh -c "redis-cli -p $home cluster info | grep -q cluster_state:ok"
	# nothing of the refused submission was written
	[ "$(redis-cli -p "$home" llen '{wq}:queue:down')" -eq 0 ]
	run timeout -k 5 30 wq-submit --queue down a
	assert_success
	assert_output --partial '"status":"accepted"'
}

# Last: it fails a primary over.
@test "oncluster: the namespace's primary killed (SIGKILL) under --wait-replicas 1: every acknowledged job worked" {
	local d victim pid bus waiter id2
	d=$(suite_dir)/fo
	mkdir -p "$d"
	victim=$(owner '{wq}:x')
	pid=$(cat "$(suite_dir)/rc-$victim/pid")
	bus=$(cat "$(suite_dir)/rc-$victim/bus")
	start w1 wq-worker --sleep 0.01 --concurrency 4
	api_start a1
	# a waiter that starts before the failover, for a job of a queue
	# nobody works until after it
	id2=$(echo late | timeout -k 5 30 wq-submit --lines --queue later |
	    jq -r .callback)
	timeout -k 5 120 wq-status --wait "$id2" >"$d/waiter" 2>"$d/waiter.err" &
	waiter=$!
	submit_batches 20 "$d" &
	local submitter=$!
	wait_for 60 test -s "$d/done"
	wait_for 60 grep -qx 4 "$d/done"
	kill -9 "$pid"
	# its replica takes over the slot
	wait_for 60 moved_from "$victim"
	# the old primary comes back, as a replica of the new one; every
	# acknowledged job, on the new primary, ends worked
	failover_done "$victim" "$bus" "$submitter" "$d" failover
	# the API serves through the new primary
	http POST "$(api_url a1)/api/v1/work" -d '{"data":"after"}'
	[ "$code" = 200 ] || { echo "$code $body"; return 1; }
	http GET "$(api_url a1)/api/v1/work/$(jq -r .callback <<<"$body")?wait=30"
	[ "$(jq -r .status <<<"$body")" = worked ]
	# the waiter from before gets its answer once the job is worked
	start w2 wq-worker --queue later --sleep 0
	wait "$waiter" || { cat "$d/waiter.err"; return 1; }
	[ "$(jq -r .status <"$d/waiter")" = worked ]
	# the old primary is a replica now, of the slot's new primary
	[ "$(owner '{wq}:x')" != "$victim" ]
}
