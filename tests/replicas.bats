#!/usr/bin/env bats
# --wait-replicas: a primary (unix socket and a loopback port) and one
# replica of it.  Submission, the API's submission and a worker's
# completions return only once Redis WAIT says the replicas have them;
# with fewer replicas than asked they say so (exit 5, HTTP 504) and the
# jobs are on the primary all the same.

load helpers
load api-helpers

setup_file() {
	local p1 p2
	ports=$(free_ports 2)
	p1=${ports%%[!0-9]*} p2=${ports##*[!0-9]}
	redis_start redis --port "$p1"
	redis_start replica --port "$p2" --replicaof 127.0.0.1 "$p1"
	echo "$p2" >"$WQ_SUITE_DIR/replica.port"
	wait_for 30 sh -c "redis-cli -p $p2 info replication | grep -q master_link_status:up"
}
teardown_file() {
	redis_stop replica
	redis_stop
}
setup() { redis_flush; }
teardown() {
	local clean=0
	kill -CONT "$(cat "$(suite_dir)/replica.pid")" 2>/dev/null || true
	api_teardown || clean=1
	return $clean
}

# redis-cli on the replica
replica() {
	redis-cli -p "$(cat "$(suite_dir)/replica.port")" "$@"
}

# calls of a command on the primary since the last CONFIG RESETSTAT
calls_of() {
	rcli info commandstats | tr -d '\r' |
		sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p"
}

@test "--wait-replicas 1: wq-submit returns once the replica has the jobs" {
	dir=$(suite_dir)
	# a stopped replica holds the answer back: the WAIT waits
	kill -STOP "$(cat "$dir/replica.pid")"
	start sub sh -c 'seq 3 | wq-submit --wait-replicas 1 --wait-timeout 20000 >"$WQ_SUITE_DIR/sub.out"'
	wait_for 10 sh -c "[ \$(redis-cli -s $WQ_TEST_SOCK info commandstats | grep -c cmdstat_wait) = 1 ]"
	kill -0 "$(pid_of sub)"
	[ ! -s "$dir/sub.out" ]
	kill -CONT "$(cat "$dir/replica.pid")"
	wait_for 20 sh -c "! kill -0 $(pid_of sub) 2>/dev/null"
	[ "$(wc -l <"$dir/sub.out")" = 3 ]
	# on the replica at the moment it returned, each one
	for id in $(jq -r .callback "$dir/sub.out"); do
		[ "$(replica exists "wq:job:$id")" = 1 ]
	done
	# and one by one (arguments, --all-or-nothing)
	run wq-submit --wait-replicas 1 one
	assert_success
	id=$(echo "$output" | jq -r .callback)
	[ "$(replica exists "wq:job:$id")" = 1 ]
	WQ_WAIT_REPLICAS=1 run wq-submit --all-or-nothing <<<"two"
	assert_success
}

@test "fewer replicas than asked: exit 5, one line, the jobs queued on the primary" {
	run timeout -k 1 20 wq-submit --wait-replicas 2 --wait-timeout 200 --key k1 x
	assert_failure 5
	assert_output "wq-submit: 1 job queued on the Redis primary, but only 1 of 2 replicas confirmed within 200 ms (--wait-replicas): not durable against a failover yet"
	# it is queued: the same key again is a duplicate
	run wq-submit --key k1 x
	assert_success
	[ "$(echo "$output" | jq -r .duplicate)" = true ]
	# a stream: the batch's answers are not printed
	run timeout -k 1 20 sh -c 'seq 3 | WQ_WAIT_REPLICAS=2 WQ_WAIT_TIMEOUT=100 wq-submit'
	assert_failure 5
	assert_output "wq-submit: 3 jobs queued on the Redis primary, but only 1 of 2 replicas confirmed within 100 ms (--wait-replicas): not durable against a failover yet"
	[ "$(rcli eval "return #redis.call('keys', 'wq:job:*')" 0)" = 4 ]
	# the replica stopped: --wait-replicas 1 is not met either
	kill -STOP "$(cat "$(suite_dir)/replica.pid")"
	run timeout -k 1 20 wq-submit --wait-replicas 1 --wait-timeout 300 y
	assert_failure 5
	assert_output --partial "only 0 of 1 replicas confirmed within 300 ms"
	[ "$(rcli eval "return #redis.call('keys', 'wq:job:*')" 0)" = 5 ]
}

@test "the default sends no WAIT; --wait-replicas one a batch" {
	rcli config resetstat >/dev/null
	ids=$(seq 10 | wq-submit | jq -r .callback)
	ids="$ids $(wq-submit a b c | jq -r .callback)"
	start w wq-worker --sleep 0 --heartbeat 0.2
	for id in $ids; do
		run wq-status --wait --timeout 20 "$id"
		assert_output --partial '"status":"worked"'
	done
	[ -z "$(calls_of wait)" ]
	rcli config resetstat >/dev/null
	seq 10 | wq-submit --wait-replicas 1 >/dev/null
	[ "$(calls_of wait)" = 1 ]
}

@test "wq-api --wait-replicas: 200 once confirmed, 504 with a JSON error if not" {
	api_start a --wait-replicas 1 --insecure-no-token
	http POST "$(api_url a)/api/v1/work" -d '{"data":"x"}'
	[ "$code" = 200 ]
	id=$(echo "$body" | jq -r .callback)
	[ "$(replica exists "wq:job:$id")" = 1 ]
	api_start b --wait-replicas 2 --wait-timeout 200 --insecure-no-token
	http POST "$(api_url b)/api/v1/work" -d '{"data":"y","key":"ky"}'
	[ "$code" = 504 ]
	echo "$body" | jq -e '.error | test("^the job is queued on the Redis primary, but only 1 of 2 replicas confirmed within 200 ms")'
	# queued all the same
	run wq-submit --key ky y
	[ "$(echo "$output" | jq -r .duplicate)" = true ]
	# wq-submit through the API: the same exit code
	run wq-submit --api "$(api_url b)" z
	assert_failure 5
	assert_output --partial "API answered 504: the job is queued on the Redis primary"
	# the API goes on serving
	http GET "$(api_url b)/api/v1/work/$id"
	[ "$code" = 200 ]
}

@test "a worker with --wait-replicas completes jobs; with too few it logs and goes on" {
	start w1 wq-worker --exec cat --wait-replicas 1 --heartbeat 0.2
	ids=$(seq 5 | wq-submit | jq -r .callback)
	for id in $ids; do
		run wq-status --wait --timeout 20 "$id"
		assert_output --partial '"status":"worked"'
	done
	stop_started
	start w2 wq-worker --exec cat --wait-replicas 2 --wait-timeout 100 --heartbeat 0.2
	id=$(wq-submit again | jq -r .callback)
	run wq-status --wait --timeout 20 "$id"
	assert_output --partial '"status":"worked"'
	wait_for 10 grep -q "1 outcome recorded on the Redis primary, but only 1 of 2 replicas confirmed within 100 ms" "$(suite_dir)/w2.log"
	kill -0 "$(pid_of w2)"
}

@test "bad --wait-replicas and --wait-timeout: exit 2, one line" {
	for v in -1 x 101 ''; do
		run wq-submit --wait-replicas "$v" a
		assert_failure 2
		assert_output "wq-submit: bad --wait-replicas: a whole number from 0 (off) to 100"
	done
	for v in 0 60001 1.5; do
		run wq-worker --sleep 0 --wait-timeout "$v"
		assert_failure 2
		assert_output "wq-worker: bad --wait-timeout: a whole number of milliseconds from 1 to 60000"
	done
	WQ_WAIT_REPLICAS=two run wq-submit a
	assert_failure 2
	assert_output "wq-submit: WQ_WAIT_REPLICAS: bad --wait-replicas: a whole number from 0 (off) to 100"
	run wq-api --wait-replicas 1000
	assert_failure 2
	[ "${#lines[@]}" = 1 ]
}
