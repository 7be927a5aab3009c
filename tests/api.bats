#!/usr/bin/env bats
# wq-api: the HTTP API (docs/DESIGN.md) on a real Kore, against a private Redis:
# the routes, every error code, waiting for a job, the node it registers,
# metrics, the console, Redis going away and coming back, and the --api
# clients.  Every test fails if a Kore worker died in its sandbox.

load helpers
load api-helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() {
	local clean=0
	api_teardown || clean=1
	redis_stop locked
	return $clean
}

ID_FOO=ACBD18DB4CC2F85CEDEF654FCCC4A4D8

@test "wq-api: --help, --version, bad options exit 2 with one line" {
	run wq-api --help
	assert_success
	assert_output --partial 'usage: wq-api'
	assert_output --partial '--listen ADDR:PORT'
	run wq-api --version
	assert_success
	assert_output --regexp '^wq-api [0-9]'
	for bad in "--workers 0" "--listen nowhere" "--listen 127.0.0.1:99999" \
	    "--max-body -1" "--redis ftp://x" "--bogus" "--ttl 0" "extra"; do
		# shellcheck disable=SC2086
		run wq-api $bad
		assert_failure 2
		[ "${#lines[@]}" -eq 1 ]
		assert_output --regexp '^wq-api: '
	done
	WQ_TTL=soon run wq-api
	assert_failure 2
}

@test "the original curl session: accepted, pending, working, worked, 404 after the TTL" {
	api_start api --ttl 2
	url=$(api_url api)
	run curl -H 'Content-Type: application/json' -s -XPOST -d '{"data":"foo"}' "$url/api/v1/work"
	assert_success
	assert_output "{\"accepted_by\":\"api-$(api_pid api)@$(hostname)\",\"callback\":\"$ID_FOO\",\"data\":\"foo\",\"status\":\"accepted\"}"
	run curl -s "$url/api/v1/work/$ID_FOO"
	assert_output --partial '"status":"pending"'
	start worker wq-worker --sleep 2
	wait_for 20 sh -c "curl -s '$url/api/v1/work/$ID_FOO' | grep -q '\"status\":\"working\"'"
	wait_for 20 sh -c "curl -s '$url/api/v1/work/$ID_FOO' | grep -q '\"status\":\"worked\"'"
	run curl -s "$url/api/v1/work/$ID_FOO"
	assert_output --partial '"data":"foo"'
	assert_output --partial '"accepted_by":"api-'
	wait_for 20 sh -c "curl -s '$url/api/v1/work/$ID_FOO' | grep -q '404. not found'"
	http GET "$url/api/v1/work/$ID_FOO"
	[ "$code" = 404 ]
	[ "$body" = '{"status":"404. not found!","error":"not found"}' ]
}

@test "a duplicate answers the existing record with duplicate:true" {
	api_start api
	url=$(api_url api)
	curl -H 'Content-Type: application/json' -s -XPOST -d '{"data":"foo"}' "$url/api/v1/work" >/dev/null
	http POST "$url/api/v1/work" -d '{"data":"foo"}'
	[ "$code" = 200 ]
	echo "$body" | jq -e '.duplicate == true and .status == "pending" and .callback == "'$ID_FOO'"'
	[ "$(rcli llen wq:queue:default)" = 1 ]
}

@test "optional fields: key, queue, timeout, max_attempts, ttl" {
	api_start api
	url=$(api_url api)
	http POST "$url/api/v1/work" -d '{"data":{"n":[1,2]},"key":"order-9","queue":"fast","timeout":30,"max_attempts":5,"ttl":60}'
	[ "$code" = 200 ]
	id=$(md5id order-9)
	echo "$body" | jq -e '.callback == "'$id'" and .data == {"n":[1,2]}'
	[ "$(rcli llen wq:queue:fast)" = 1 ]
	run curl -s "$url/api/v1/work/$id"
	echo "$output" | jq -e '.queue == "fast" and .timeout == 30 and .max_attempts == 5 and .ttl == 60'
}

@test "400: malformed JSON, no data, bad fields, empty body" {
	api_start api
	url=$(api_url api)
	for b in '{"data":' 'not json' '[1,2]' '"foo"' '{"nodata":1}' \
	    '{"data":1,"queue":7}' '{"data":1,"timeout":-1}' \
	    '{"data":1,"max_attempts":1.5}' '{"data":1,"key":""}' \
	    '{"data":1,"colour":"red"}' '{"data":1,"queue":"a b"}'; do
		http POST "$url/api/v1/work" -H 'Content-Type: application/json' -d "$b"
		[ "$code" = 400 ] || { echo "$b -> $code $body"; false; }
		echo "$body" | jq -e '.error | type == "string"'
	done
	http POST "$url/api/v1/work" -H 'Content-Length: 0'
	[ "$code" = 400 ]
	http GET "$url/api/v1/work/$ID_FOO?wait=soon"
	[ "$code" = 400 ]
	http GET "$url/api/v1/recent?limit=500"
	[ "$code" = 400 ]
	# nothing was queued
	[ "$(rcli llen wq:queue:default)" = 0 ]
	[ -z "$(rcli --scan --pattern 'wq:job:*')" ]
}

@test "404 for unknown ids and paths, 405 with Allow for other methods" {
	api_start api
	url=$(api_url api)
	for p in "/api/v1/work/$ID_FOO" /api/v1/work/nothex /api/v1/work/acbd18db4cc2f85cedef654fcccc4a4d8; do
		http GET "$url$p"
		[ "$code" = 404 ]
		[ "$body" = '{"status":"404. not found!","error":"not found"}' ]
	done
	for p in /nope /api/v2/work /api/v1/workers /favicon.ico; do
		http GET "$url$p"
		[ "$code" = 404 ]
		echo "$body" | jq -e '.error == "not found"'
	done
	http GET "$url/api/v1/work"
	[ "$code" = 405 ]
	echo "$headers" | grep -qi '^allow: POST$'
	echo "$body" | jq -e '.error'
	http DELETE "$url/api/v1/work/$ID_FOO"
	[ "$code" = 405 ]
	echo "$headers" | grep -qi '^allow: GET, HEAD$'
	http POST "$url/api/v1/peers" -d '{}'
	[ "$code" = 405 ]
	http PUT "$url/api/v1/work" -d '{"data":1}'
	[ "$code" = 405 ]
	http HEAD "$url/api/v1/queues"
	[ "$code" = 200 ]
}

@test "413: a body over --max-body, data over --max-data" {
	api_start api --max-body 2000 --max-data 100
	url=$(api_url api)
	big=$(printf 'x%.0s' $(seq 2100))
	http POST "$url/api/v1/work" -d "{\"data\":\"$big\"}"
	[ "$code" = 413 ]
	echo "$body" | jq -e '.error | test("over the limit")'
	mid=$(printf 'y%.0s' $(seq 150))
	http POST "$url/api/v1/work" -d "{\"data\":\"$mid\"}"
	[ "$code" = 413 ]
	echo "$body" | jq -e '.error | test("max-data")'
	http POST "$url/api/v1/work" -d '{"data":"small"}'
	[ "$code" = 200 ]
	[ "$(rcli llen wq:queue:default)" = 1 ]
}

@test "401 on every route but /healthz when a token is set" {
	api_start api --token 's3cr3t-token'
	url=$(api_url api)
	for p in / /metrics /api/v1/work/$ID_FOO /api/v1/peers /api/v1/queues \
	    /api/v1/stats /api/v1/recent /api/v1/ping /nope; do
		http GET "$url$p"
		[ "$code" = 401 ] || { echo "$p [no token] -> $code"; false; }
		for auth in "Bearer wrong" "Bearer s3cr3t-token-and-more" \
		    "Bearer s3cr3t-toke" "Bearer " "Basic czNjcjN0LXRva2Vu" \
		    "s3cr3t-token"; do
			http GET "$url$p" -H "Authorization: $auth"
			[ "$code" = 401 ] || { echo "$p [$auth] -> $code"; false; }
		done
		echo "$headers" | grep -qi '^www-authenticate: Bearer'
		echo "$body" | jq -e '.error'
	done
	http POST "$url/api/v1/work" -d '{"data":"foo"}'
	[ "$code" = 401 ]
	[ "$(rcli llen wq:queue:default)" = 0 ]
	http GET "$url/healthz"
	[ "$code" = 200 ]
	http POST "$url/api/v1/work" -H 'Authorization: Bearer s3cr3t-token' -d '{"data":"foo"}'
	[ "$code" = 200 ]
	http GET "$url/api/v1/work/$ID_FOO" -H 'authorization: bearer s3cr3t-token'
	[ "$code" = 200 ]
}

@test "the console: served with the token, refused without it" {
	api_start api --token tok
	url=$(api_url api)
	http GET "$url/" -H 'Authorization: Bearer tok'
	[ "$code" = 200 ]
	echo "$headers" | grep -qi '^content-type: text/html'
	echo "$body" | grep -q '<title>wq console</title>'
	echo "$body" | grep -q '/api/v1/work'
	http GET "$url/"
	[ "$code" = 401 ]
	echo "$body" | jq -e '.error'
	# a browser is asked for the token, and is not shown the console
	http GET "$url/" -H 'Accept: text/html,*/*'
	[ "$code" = 401 ]
	echo "$body" | grep -q 'bearer token'
	! echo "$body" | grep -q 'wq console'
}

@test "?wait holds the answer until the job ends, without polling Redis" {
	api_start api
	url=$(api_url api)
	curl -H 'Content-Type: application/json' -s -XPOST -d '{"data":"slow"}' "$url/api/v1/work" >/dev/null
	id=$(md5id slow)
	start worker wq-worker --sleep 1.5
	t0=$(now_ms)
	http GET "$url/api/v1/work/$id?wait=60"
	t1=$(now_ms)
	[ "$code" = 200 ]
	echo "$body" | jq -e '.status == "worked"'
	# held while the job ran (1.5 s), answered once it ended: after its
	# end, and before the 60 s the request asked for ran out (held to the
	# end of ?wait, the answer would be as worked, but 60 s late)
	[ $(( t1 - t0 )) -ge 1000 ]
	[ "$t1" -ge "$(echo "$body" | jq .finished_at)" ]
	[ $(( t1 - t0 )) -lt 60000 ]
}

@test "many requests wait for one job on one subscription per worker" {
	api_start api
	url=$(api_url api)
	curl -H 'Content-Type: application/json' -s -XPOST -d '{"data":"many"}' "$url/api/v1/work" >/dev/null
	id=$(md5id many)
	pids=()
	for i in 1 2 3 4 5 6; do
		curl -s "$url/api/v1/work/$id?wait=20" >"$(suite_dir)/w$i.out" &
		pids+=($!)
	done
	wait_for 20 sh -c "[ \$(rcli pubsub numsub wq:done:$id | tail -1) -ge 1 ]"
	[ "$(rcli pubsub numsub "wq:done:$id" | tail -1)" -le 2 ]
	start worker wq-worker --sleep 0.5
	wait "${pids[@]}"
	for i in 1 2 3 4 5 6; do
		jq -e '.status == "worked"' "$(suite_dir)/w$i.out"
	done
	# the channels are left once nobody waits
	wait_for 20 sh -c "[ \$(rcli pubsub numsub wq:done:$id | tail -1) = 0 ]"
}

@test "?wait gives the record as it is when the time is up; unknown ids at once" {
	api_start api
	url=$(api_url api)
	curl -H 'Content-Type: application/json' -s -XPOST -d '{"data":"nobody"}' "$url/api/v1/work" >/dev/null
	id=$(md5id nobody)
	# two requests at once: ?wait=1.2 answers when its time is up, not
	# before, and before the one that waits 6 s (the order of the two
	# answers, not a time: both are late alike on a busy machine)
	out=$(suite_dir)/wait6
	t6=$(now_ms)
	( curl -s "$url/api/v1/work/$id?wait=6" >"$out"; now_ms >"$out.t" ) 3>&- &
	long=$!
	t0=$(now_ms)
	http GET "$url/api/v1/work/$id?wait=1.2"
	t1=$(now_ms)
	[ "$code" = 200 ]
	echo "$body" | jq -e '.status == "pending"'
	[ $(( t1 - t0 )) -ge 1100 ]
	[ ! -s "$out.t" ]
	wait "$long"
	jq -e '.status == "pending"' "$out"
	[ $(( $(cat "$out.t") - t6 )) -ge 5900 ]
	# an unknown id is answered at once: before the 60 s it asked for
	t0=$(now_ms)
	http GET "$url/api/v1/work/$ID_FOO?wait=60"
	t1=$(now_ms)
	[ "$code" = 404 ]
	[ $(( t1 - t0 )) -lt 60000 ]
	# a job that fails ends the wait too
	curl -H 'Content-Type: application/json' -s -XPOST -d '{"data":"doomed","max_attempts":1}' "$url/api/v1/work" >/dev/null
	start worker wq-worker --exec false
	http GET "$url/api/v1/work/$(md5id doomed)?wait=20"
	echo "$body" | jq -e '.status == "failed"'
}

@test "the instance is a node of role api; it leaves on SIGTERM" {
	api_start api --name api-one
	url=$(api_url api)
	run wq-peers
	assert_output --partial '"name":"api-one"'
	wq-peers | jq -e 'select(.name == "api-one") | .role == "api" and .alive'
	http GET "$url/api/v1/peers"
	[ "$code" = 200 ]
	echo "$body" | jq -e 'map(select(.name == "api-one" and .role == "api")) | length == 1'
	# it keeps beating: two beats after this one
	b=$(rcli zscore wq:nodes api-one)
	wait_for 20 eval '[ "$(rcli zscore wq:nodes api-one)" -gt "$b" ]'
	b=$(rcli zscore wq:nodes api-one)
	wait_for 20 eval '[ "$(rcli zscore wq:nodes api-one)" -gt "$b" ]'
	wq-peers | jq -e 'select(.name == "api-one") | .alive'
	http POST "$url/api/v1/work" -d '{"data":"who"}'
	echo "$body" | jq -e '.accepted_by == "api-one"'
	kill "$(api_pid api)"
	wait_for 20 sh -c '! kill -0 '"$(api_pid api)"' 2>/dev/null'
	run wq-peers
	refute_output --partial 'api-one'
	grep -q "wq-api: stopped" "$(suite_dir)/api.log"
}

@test "peers, queues, stats and recent jobs" {
	api_start api
	url=$(api_url api)
	for d in a b c; do
		curl -H 'Content-Type: application/json' -s -XPOST -d "{\"data\":\"$d\"}" "$url/api/v1/work" >/dev/null
	done
	curl -H 'Content-Type: application/json' -s -XPOST -d '{"data":"d","queue":"other"}' "$url/api/v1/work" >/dev/null
	http GET "$url/api/v1/queues"
	[ "$code" = 200 ]
	echo "$body" | jq -e '.default.pending == 3 and .other.pending == 1 and .default.dead == 0'
	http GET "$url/api/v1/recent?limit=3"
	echo "$body" | jq -e 'length == 3 and .[0].data == "d" and .[2].data == "b"'
	http GET "$url/api/v1/stats"
	echo "$body" | jq -e '.totals.submitted == 4 and .nodes.api == 1 and .queues.other.pending == 1'
	start worker wq-worker --jq '.'
	wait_for 20 sh -c "curl -s '$url/api/v1/stats' | jq -e '.totals.worked == 3'"
	http GET "$url/api/v1/peers"
	echo "$body" | jq -e 'map(.role) | sort == ["api","worker"]'
}

@test "metrics: every line is Prometheus text, counters and a cumulative histogram" {
	api_start api
	url=$(api_url api)
	for d in m1 m2 m3; do
		curl -H 'Content-Type: application/json' -s -XPOST -d "{\"data\":\"$d\"}" "$url/api/v1/work" >/dev/null
	done
	curl -H 'Content-Type: application/json' -s -XPOST -d '{"data":"m4","queue":"q\"x"}' "$url/api/v1/work" >/dev/null
	start worker wq-worker --queue default --sleep 0.05
	wait_for 20 sh -c "curl -s '$url/metrics' | grep -q '^wq_jobs_worked_total 3$'"
	http GET "$url/metrics"
	[ "$code" = 200 ]
	echo "$headers" | grep -qi '^content-type: text/plain; version=0.0.4'
	# the exposition grammar: comments, or name{labels} value
	name='[a-zA-Z_:][a-zA-Z0-9_:]*'
	lv='"([^"\\]|\\.)*"'
	labels="\\{($name=$lv(,$name=$lv)*)?\\}"
	val='(-?[0-9.]+([eE][-+]?[0-9]+)?|[-+]Inf|NaN)'
	bad=$(echo "$body" | grep -v -E '^# (HELP|TYPE) ' |
	    grep -v -E "^$name($labels)? $val( -?[0-9]+)?\$" || true)
	[ -z "$bad" ] || { echo "bad lines: $bad"; false; }
	echo "$body" | grep -E '^# TYPE wq_job_latency_seconds histogram$'
	echo "$body" | grep -q '^wq_jobs_submitted_total 4$'
	echo "$body" | grep -q '^wq_queue_jobs{queue="default",state="pending"} 0$'
	echo "$body" | grep -q '^wq_queue_jobs{queue="q\\"x",state="pending"} 1$'
	echo "$body" | grep -q '^wq_nodes{role="api"} 1$'
	echo "$body" | grep -q '^wq_nodes{role="worker"} 1$'
	# buckets never decrease and +Inf is the count
	counts=$(echo "$body" | sed -n 's/^wq_job_latency_seconds_bucket{le="[^"]*"} //p')
	sorted=$(echo "$counts" | sort -n)
	[ "$counts" = "$sorted" ]
	inf=$(echo "$body" | sed -n 's/^wq_job_latency_seconds_bucket{le="+Inf"} //p')
	[ "$inf" = 3 ]
	echo "$body" | grep -q "^wq_job_latency_seconds_count 3$"
	# every TYPE is declared once, before its samples
	[ "$(echo "$body" | grep '^# TYPE' | sort | uniq -d)" = "" ]
}

# Standalone: one server shut down and started again at its address; on
# a Redis Cluster its replica takes over instead (tests/rcluster.bats).
# bats test_tags=standalone
@test "503 with Retry-After while Redis is down, then it recovers by itself" {
	api_start api
	url=$(api_url api)
	http POST "$url/api/v1/work" -d '{"data":"before"}'
	[ "$code" = 200 ]
	rcli shutdown nosave >/dev/null 2>&1 || true
	wait_for 20 sh -c "! rcli ping"
	for p in /healthz /api/v1/queues /metrics "/api/v1/work/$ID_FOO?wait=5"; do
		http GET "$url$p"
		[ "$code" = 503 ] || { echo "$p -> $code"; false; }
		echo "$headers" | grep -qi '^retry-after: 1$'
		echo "$body" | jq -e '.error'
	done
	http POST "$url/api/v1/work" -d '{"data":"during"}'
	[ "$code" = 503 ]
	redis_start
	wait_for 20 sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' '$url/healthz') = 200 ]"
	# the scripts are gone with the old server: EVALSHA falls back to EVAL
	http POST "$url/api/v1/work" -d '{"data":"after"}'
	[ "$code" = 200 ]
	echo "$body" | jq -e '.status == "accepted"'
	# and the node registers again
	wait_for 20 sh -c "wq-peers | grep -q '\"role\":\"api\"'"
	grep -q 'connection is back' "$(suite_dir)/api.log"
}

@test "Redis answering an error: 500, logged; the --api clients exit 4" {
	api_start api
	url=$(api_url api)
	rcli set "wq:job:$ID_FOO" x >/dev/null
	rcli set wq:queue:bad x >/dev/null
	http GET "$url/api/v1/work/$ID_FOO"
	[ "$code" = 500 ] || { echo "$code $body"; false; }
	echo "$body" | jq -e '.error'
	http POST "$url/api/v1/work" -d '{"data":"x","queue":"bad"}'
	[ "$code" = 500 ]
	run wq-status --api "$url" "$ID_FOO"
	assert_failure 4
	grep -q WRONGTYPE "$(suite_dir)/api.log"
	# not an outage: the instance stays healthy
	http GET "$url/healthz"
	[ "$code" = 200 ]
}

@test "an id in lower case is the same id, as for the CLI" {
	api_start api
	url=$(api_url api)
	wq-submit foo >/dev/null
	lower=$(echo "$ID_FOO" | tr A-F a-f)
	wq-status "$lower" >/dev/null
	http GET "$url/api/v1/work/$lower"
	[ "$code" = 200 ] || { echo "$code $body"; false; }
	echo "$body" | jq -e --arg id "$ID_FOO" '.callback == $id'
}

@test "--max-queues: a new queue past it is 422, and --api exits 2" {
	api_start api --max-queues 1
	url=$(api_url api)
	http POST "$url/api/v1/work" -d '{"data":"a","queue":"one"}'
	[ "$code" = 200 ]
	http POST "$url/api/v1/work" -d '{"data":"b","queue":"two"}'
	[ "$code" = 422 ] || { echo "$code $body"; false; }
	echo "$body" | jq -e '.error | test("max-queues")'
	run wq-submit --api "$url" --queue two b
	assert_failure 2
	[ "$(rcli sismember wq:queues two)" = 0 ]
}

# Standalone: a Redis Cluster fails over a primary stalled past its node
# timeout, so a stall there is a failover (tests/rcluster.bats).
# bats test_tags=standalone
@test "a Redis that stops answering: 503 after the stall limit, then recovery" {
	api_start api
	url=$(api_url api)
	# Redis stuck for 12 s; the stall limit is 3 s
	rcli debug sleep 12 >/dev/null &
	sleeper=$!
	sleep 0.3
	t0=$(now_ms)
	http GET "$url/api/v1/queues"
	t1=$(now_ms)
	[ "$code" = 503 ] || { echo "$code $body $(( t1 - t0 ))"; log_of api; false; }
	# answered while Redis was still stuck, not once it came back
	kill -0 "$sleeper"
	wait "$sleeper"
	wait_for 20 sh -c "curl -s '$url/api/v1/queues' | jq -e 'type == \"object\"'"
}

@test "--api clients print what their Redis paths print, with the same exit codes" {
	api_start api --token tk
	url=$(api_url api)
	export WQ_TOKEN=tk
	run wq-submit --api "$url" foo
	assert_success
	assert_output "{\"accepted_by\":\"api-$(api_pid api)@$(hostname)\",\"callback\":\"$ID_FOO\",\"data\":\"foo\",\"status\":\"accepted\"}"
	# a duplicate answers the same record both ways, byte for byte
	[ "$(wq-submit --api "$url" foo)" = "$(wq-submit foo)" ]
	wq-submit --json '{"data":{"x":1},"key":"k1"}' >/dev/null
	run wq-submit --api "$url" --json '{"data":{"x":2},"key":"k1"}'
	assert_success
	assert_output --partial '"duplicate":true'
	[ "$output" = "$(wq-submit --json '{"data":{"x":3},"key":"k1"}')" ]
	# options reach the record as on the Redis path
	wq-submit --api "$url" --timeout 7 --max-attempts 4 --queue qa opt1 >/dev/null
	wq-submit --timeout 7 --max-attempts 4 --queue qa opt2 >/dev/null
	a=$(wq-status "$(md5id opt1)" | jq -c '{queue,timeout,max_attempts,ttl,status}')
	b=$(wq-status "$(md5id opt2)" | jq -c '{queue,timeout,max_attempts,ttl,status}')
	[ "$a" = "$b" ]
	# status: byte for byte the same output
	[ "$(wq-status --api "$url" "$ID_FOO" "$(md5id k1)")" = "$(wq-status "$ID_FOO" "$(md5id k1)")" ]
	run wq-status --api "$url" 00000000000000000000000000000000
	assert_failure 1
	assert_output --partial 'not found'
	run wq-status 00000000000000000000000000000000
	assert_failure 1
	# --wait through the API
	start worker wq-worker --jq '{n: .}'
	run sh -c "wq-submit --api '$url' w1 w2 | wq-status --api '$url' --wait"
	assert_success
	[ "$(echo "$output" | jq -r .status | sort -u)" = worked ]
	[ "${#lines[@]}" = 2 ]
	wq-submit --api "$url" --queue nowhere lonely >/dev/null
	run wq-status --api "$url" --wait --timeout 1 "$(md5id lonely)"
	assert_failure 1
	assert_output --partial '"status":"pending"'
	# the wrong token is a usage error, an API that is not there is 3
	WQ_TOKEN=nope run wq-submit --api "$url" foo
	assert_failure 2
	assert_output --partial '401'
	run wq-submit --api "http://127.0.0.1:$(free_port)" foo
	assert_failure 3
	run wq-status --api "http://127.0.0.1:$(free_port)" "$ID_FOO"
	assert_failure 3
	# too big and bad input are refused before anything is sent
	run wq-submit --api "$url" --json '{"nodata":1}'
	assert_failure 2
}

@test "ping, HEAD, and a stream of requests on one connection" {
	api_start api
	url=$(api_url api)
	http GET "$url/api/v1/ping"
	[ "$code" = 200 ]
	[ "$body" = '{"status":"ok"}' ]
	# keep-alive: 50 submissions over one connection, all answered
	args=()
	for i in $(seq 50); do
		args+=(-X POST -H 'Content-Type: application/json' -d "{\"data\":\"ka-$i\"}" "$url/api/v1/work" --next)
	done
	n=$(curl -s "${args[@]}" "$url/api/v1/ping" | grep -o '"status":"accepted"' | wc -l)
	[ "$n" = 50 ]
	[ "$(rcli llen wq:queue:default)" = 50 ]
}

# Standalone: no Redis left by shutting one server down; on a Redis
# Cluster its replica takes over.
# bats test_tags=standalone
@test "stopping: promptly on SIGTERM even without Redis; SIGKILL takes the workers along" {
	api_start api
	url=$(api_url api)
	pid=$(api_pid api)
	rcli shutdown nosave >/dev/null 2>&1 || true
	# stopping does not wait for a Redis that is gone (it would wait for
	# good: nothing brings this one back)
	t0=$(now_ms)
	kill "$pid"
	wait_for 30 sh -c "! kill -0 $pid 2>/dev/null"
	echo "# wq-api stopped without Redis in $(( $(now_ms) - t0 )) ms" >&3
	redis_start
	# a parent killed outright leaves no worker serving behind it
	api_start api --name api-orphans
	url=$(api_url api)
	pid=$(api_pid api)
	workers=$(ps -o pid= --ppid "$pid")
	[ -n "$workers" ]
	kill -9 "$pid"
	for w in $workers; do
		wait_for 20 sh -c "! kill -0 $w 2>/dev/null || grep -q Z /proc/$w/stat"
	done
	run curl -s -m 2 "$url/api/v1/ping"
	assert_failure
	# and the node it was is dead once its heartbeat lapses
	wait_for 20 sh -c "! wq-peers | grep -q api-orphans"
}

@test "a body of megabytes: parsed in the sandbox, sent by --api without waiting" {
	api_start api --max-body 4000000 --max-data 3000000
	url=$(api_url api)
	python3 -c 'print("{\"data\":\"" + "z" * 1500000 + "\"}")' >"$(suite_dir)/big.json"
	http POST "$url/api/v1/work" -H 'Expect:' --data-binary "@$(suite_dir)/big.json"
	[ "$code" = 200 ]
	# wq-submit --api sends it at once: no "Expect: 100-continue" (which
	# libcurl adds above 1 MiB, and then waits a second for a "100
	# Continue" that Kore never sends).  What it sent, as a relay
	# between it and wq-api saw it, not how long it took.
	write_relay
	start relay python3 "$(suite_dir)/relay.py" "$(api_port api)" "$(suite_dir)/heads"
	wait_for 20 test -s "$(suite_dir)/relay.log"
	relay="http://127.0.0.1:$(head -1 "$(suite_dir)/relay.log")"
	{ head -c 1500000 /dev/zero | tr '\0' y; echo; } >"$(suite_dir)/big.txt"
	t0=$(now_ms)
	run sh -c "wq-submit --max-data 3000000 --api '$relay' <'$(suite_dir)/big.txt'"
	echo "# wq-submit --api, 1.5 MB: $(( $(now_ms) - t0 )) ms" >&3
	assert_success
	assert_output --partial '"status":"accepted"'
	cat "$(suite_dir)/heads"
	[ "$(grep -c '^POST /api/v1/work HTTP/1.1' "$(suite_dir)/heads")" = 1 ]
	grep -qi '^content-length: 1500[0-9][0-9]' "$(suite_dir)/heads"
	run grep -i '^expect:' "$(suite_dir)/heads"
	assert_failure 1
	[ "$(rcli llen wq:queue:default)" = 2 ]
}

# write_relay: relay.py UPPORT HEADS, a TCP relay on a free loopback port
# (printed first) to 127.0.0.1:UPPORT, which appends the head of each
# connection's first request (up to its blank line) to HEADS.
write_relay() {
	cat >"$(suite_dir)/relay.py" <<'PY'
import socket, sys, threading
up, heads = int(sys.argv[1]), sys.argv[2]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
print(ls.getsockname()[1], flush=True)
def pump(a, b, record):
    buf = b""
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            if record:
                buf += d
                end = buf.find(b"\r\n\r\n")
                if end >= 0:
                    with open(heads, "ab") as f:
                        f.write(buf[:end + 2].replace(b"\r\n", b"\n"))
                    record = False
            b.sendall(d)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass
while True:
    c, _ = ls.accept()
    u = socket.create_connection(("127.0.0.1", up))
    threading.Thread(target=pump, args=(c, u, True), daemon=True).start()
    threading.Thread(target=pump, args=(u, c, False), daemon=True).start()
PY
}

@test "Redis refuses the password: 503, one complaint, no reconnect storm" {
	redis_start locked --requirepass 'pw-ok'
	sock="$(suite_dir)/locked.sock"
	WQ_REDIS="unix://$sock?password=wrong" api_start api
	url=$(api_url api)
	http GET "$url/healthz"
	[ "$code" = 503 ]
	# each connection says it once, however often it tries again: after
	# 24 refused tries in all (four or more each), however long they took
	wait_for 60 eval '[ "$(redis-cli -s "$sock" -a pw-ok --no-auth-warning \
		info errorstats | tr -d "\r" |
		sed -n "s/^errorstat_WRONGPASS:count=//p")" -ge 24 ]'
	[ "$(grep -c 'refused the credentials' "$(suite_dir)/api.log")" -le 8 ]
	run grep 'connection is back' "$(suite_dir)/api.log"
	assert_failure 1
	kill "$(api_pid api)"
	wait_for 20 sh -c "! kill -0 $(api_pid api) 2>/dev/null"
	WQ_REDIS="unix://$sock?password=pw-ok" api_start api
	url=$(api_url api)
	http POST "$url/api/v1/work" -d '{"data":"locked"}'
	[ "$code" = 200 ]
	[ "$(redis-cli -s "$sock" -a pw-ok --no-auth-warning llen wq:queue:default)" = 1 ]
}

@test "an API node answers ping, info and drain like every node" {
	api_start api --name api-msg
	start w1 wq-worker --sleep 1 --name w-msg
	wait_for 20 sh -c "[ \$(wq-peers | grep -c '\"alive\":true') = 2 ]"
	run wq-send --timeout 20 api-msg ping
	assert_success
	assert_output --partial '"type":"pong"'
	assert_output --partial '"role":"api"'
	run wq-send --timeout 20 --all ping
	assert_success
	[ "$(echo "$output" | grep -c '"type":"pong"')" = 2 ]
	run wq-send --timeout 20 api-msg info
	assert_output --partial '"type":"info"'
	run wq-send --timeout 20 api-msg nonsense
	assert_failure 1
	run wq-send --timeout 20 api-msg drain
	assert_success
	assert_output --partial '"type":"draining"'
	wait_for 20 sh -c '! kill -0 '"$(api_pid api)"' 2>/dev/null'
	run wq-peers
	refute_output --partial api-msg
}
