#!/usr/bin/env bats
# openapi: kore-api/openapi.json, the OpenAPI 3.1 description of the HTTP
# API.  Its lint (tests/openapi.py with Debian's python3-jsonschema: no
# npm in CI); every route of the API's table has a description and every
# description is a route; and the real answers of a running wq-api, for
# every route (200, 4xx, 503), checked against the document: status,
# content type, required headers, and the body against its schema.  The
# last test checks that every answer the document names was seen.

load helpers
load api-helpers

DOC=$WQ_SRCDIR/kore-api/openapi.json
PY=/usr/bin/python3
ID_FOO=ACBD18DB4CC2F85CEDEF654FCCC4A4D8
TP=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01

setup_file() {
	redis_start
	rm -f "$WQ_SUITE_DIR/coverage"
}
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { api_teardown; }

# answer METHOD URL [curl args...]: make the request and keep the answer
# for checked (below); sets $code and $body.
answer() {
	local method=$1 url=$2 dir n
	shift 2
	dir=$(suite_dir)/answers
	mkdir -p "$dir"
	n=$(( $(ls "$dir" | wc -l) / 3 + 1 ))
	if [ "$method" = HEAD ]; then set -- -I "$@"; else set -- -X "$method" "$@"; fi
	if [ "$method" = POST ] && ! printf '%s\n' "$@" | grep -qi '^content-type:'; then
		set -- -H 'Content-Type: application/json' "$@"
	fi
	code=$(curl -s -o "$dir/$n.b" -D "$dir/$n.h" -w '%{http_code}' "$@" "$url")
	body=$(cat "$dir/$n.b")
	echo "$method /${url#http://*/} $code" >"$dir/$n.meta"
}

# answer_stream URL [curl args...]: a GET of a stream that does not end
# (the events): what came within a second, kept as answer keeps it.
answer_stream() {
	local url=$1 dir n
	shift
	dir=$(suite_dir)/answers
	mkdir -p "$dir"
	n=$(( $(ls "$dir" | wc -l) / 3 + 1 ))
	code=$(curl -s -N -m 1 -o "$dir/$n.b" -D "$dir/$n.h" \
	    -w '%{http_code}' "$@" "$url") || true
	body=$(cat "$dir/$n.b")
	echo "GET /${url#http://*/} $code" >"$dir/$n.meta"
}

# expect STATUS METHOD URL [curl args...]: answer, with that status.
expect() {
	local want=$1
	shift
	answer "$@"
	[ "$code" = "$want" ] || { echo "$1 $2: $code, expected $want: $body"; return 1; }
}

# checked: the answers kept since the last call are what the document
# says (recorded for the last test).
checked() {
	local dir=$(suite_dir)/answers rc=0
	"$PY" "$WQ_SRCDIR/tests/openapi.py" check-dir "$DOC" "$dir" \
	    "$(suite_dir)/coverage" || rc=1
	rm -rf "$dir"
	return $rc
}

# The routes of the API's table (kore-api/*.c), one a line: a path that
# ends with / takes a suffix (/api/v1/work/ is /api/v1/work/<id>).
source_routes() {
	sed -n 's/^[[:space:]]*{ *"\(\/[^"]*\)",.*route_[a-z_]*.*/\1/p' \
	    "$WQ_SRCDIR"/kore-api/*.c | sort -u
}

# undocumented_routes DOC: the routes of the table that DOC lacks, and the
# paths of DOC that are no route of the table.
undocumented_routes() {
	local routes paths r p found
	routes=$(source_routes)
	paths=$(jq -r '.paths | keys[]' "$1")
	for r in $routes; do
		found=
		for p in $paths; do
			if [ "$r" != / ] && [ "${r%/}" != "$r" ]; then
				[[ $p == "$r"\{* ]] && found=1
			else
				[ "$p" = "$r" ] && found=1
			fi
		done
		[ -n "$found" ] || echo "route $r has no description"
	done
	for p in $paths; do
		found=
		for r in $routes; do
			if [ "$r" != / ] && [ "${r%/}" != "$r" ]; then
				[[ $p == "$r"\{* ]] && found=1
			else
				[ "$p" = "$r" ] && found=1
			fi
		done
		[ -n "$found" ] || echo "path $p is no route"
	done
}

@test "lint: OpenAPI 3.1, well formed, every schema and example valid" {
	version=$(sed -n 's/^AC_INIT(\[wq\], \[\([^]]*\)\].*/\1/p' \
	    "$WQ_SRCDIR/configure.ac")
	[ -n "$version" ]
	run "$PY" "$WQ_SRCDIR/tests/openapi.py" lint "$DOC" "$version"
	assert_success
	assert_output ''
	# The checks can fail: a broken copy is refused for each fault.
	jq '.components.schemas.Pong.properties.status.type = "strng"
	    | .components.schemas.Accepted.examples[0].status = "no"
	    | .paths["/api/v1/work/{id}"].parameters = []
	    | .paths["/api/v1/ping"].get.respones = {}' "$DOC" >"$(suite_dir)/bad.json"
	run "$PY" "$WQ_SRCDIR/tests/openapi.py" lint "$(suite_dir)/bad.json" "$version"
	assert_failure
	assert_line --partial 'Pong: not a JSON Schema 2020-12 schema'
	assert_line --partial 'Accepted/examples/0: example does not match'
	assert_line --partial "path parameters [] but the template has ['id']"
	assert_line --partial "unknown field 'respones'"
	jq '.paths["/healthz"].get.responses["200"] = {"$ref": "#/components/responses/Gone"}' \
	    "$DOC" >"$(suite_dir)/bad.json"
	run "$PY" "$WQ_SRCDIR/tests/openapi.py" lint "$(suite_dir)/bad.json"
	assert_failure
	assert_output --partial 'resolves to nothing'
}

@test "every route of the API is described, and every description is a route" {
	run source_routes
	assert_success
	# The table was found (its shape changed if this fails).
	assert_line /api/v1/work
	assert_line /api/v1/work/
	assert_line /healthz
	run undocumented_routes "$DOC"
	assert_success
	assert_output ''
	# A route added without a description is caught.
	jq 'del(.paths["/api/v1/ping"])' "$DOC" >"$(suite_dir)/less.json"
	run undocumented_routes "$(suite_dir)/less.json"
	assert_output 'route /api/v1/ping has no description'
}

@test "200: every route's answers match the document" {
	api_start api
	url=$(api_url api)
	expect 200 GET "$url/"
	expect 200 HEAD "$url/"
	expect 200 GET "$url/healthz"
	expect 200 GET "$url/api/v1/ping"
	# the description itself, served as it is in the repository
	expect 200 GET "$url/api/v1/openapi.json"
	[ "$(echo "$body" | jq -S .)" = "$(jq -S . "$DOC")" ]
	expect 200 HEAD "$url/api/v1/openapi.json"
	expect 404 GET "$url/api/v1/work/$ID_FOO"
	expect 200 POST "$url/api/v1/work" -d '{"data":"foo"}'
	echo "$body" | jq -e '.status == "accepted"'
	expect 200 POST "$url/api/v1/work" -d '{"data":{"n":[1,2]},"key":"k",
	    "queue":"q1","timeout":5,"max_attempts":2,"ttl":60}'
	# the record while pending, with the optional fields it was given
	expect 200 GET "$url/api/v1/work/$(md5id k)"
	echo "$body" | jq -e '.status == "pending" and .ttl == 60 and .timeout == 5'
	# a trace context, from the header
	expect 200 POST "$url/api/v1/work" -d '{"data":"traced"}' -H "traceparent: $TP"
	expect 200 GET "$url/api/v1/work/$(md5id traced)"
	echo "$body" | jq -e --arg tp "$TP" '.traceparent == $tp'
	# to run later
	expect 200 POST "$url/api/v1/work" -d '{"data":"later","in":"1h","priority":7}'
	expect 200 GET "$url/api/v1/work/$(md5id later)"
	echo "$body" | jq -e '.status == "pending" and .run_at - .created_at == 3600000 and .priority == 7'
	# waiting for another job
	expect 200 POST "$url/api/v1/work" -d "{\"data\":\"kid\",\"after\":[\"$ID_FOO\"]}"
	expect 200 GET "$url/api/v1/work/$(md5id kid)"
	echo "$body" | jq -e --arg p "$ID_FOO" '.status == "waiting" and .after == [$p]'
	expect 200 GET "$url/api/v1/queues"
	echo "$body" | jq -e '.q1.pending == 1'
	# a worker: worked records, one failed for good, one waiting to retry
	start worker wq-worker --queue default --queue q1 --queue bad \
	    --exec 'case "$(cat)" in fail*) echo oops >&2; exit 3;; *) echo done;; esac' \
	    --max-attempts 1 --backoff 60 --quiet
	expect 200 GET "$url/api/v1/work/$ID_FOO?wait=10"
	echo "$body" | jq -e '.status == "worked" and .result == "done"'
	expect 200 POST "$url/api/v1/work" -d '{"data":"fail now","queue":"bad"}'
	expect 200 GET "$url/api/v1/work/$(md5id 'fail now')?wait=10"
	echo "$body" | jq -e '.status == "failed" and (.error | length > 0)'
	expect 200 POST "$url/api/v1/work" -d '{"data":"fail later","max_attempts":3}'
	wait_for 10 sh -c "redis-cli -s '$WQ_TEST_SOCK' hexists wq:job:$(md5id 'fail later') y | grep -qx 1"
	expect 200 GET "$url/api/v1/work/$(md5id 'fail later')"
	echo "$body" | jq -e '.retry_at > 0'
	# a duplicate answers the record
	expect 200 POST "$url/api/v1/work" -d '{"data":"foo"}'
	echo "$body" | jq -e '.duplicate == true and .status == "worked"'
	expect 200 HEAD "$url/api/v1/work/$ID_FOO"
	expect 200 GET "$url/api/v1/peers"
	echo "$body" | jq -e 'map(.role) | sort == ["api", "worker"]'
	kill "$(pid_of worker)"
	wait_for 10 sh -c "! wq-peers | grep -q worker-"
	expect 200 GET "$url/api/v1/peers?all=1"
	echo "$body" | jq -e 'map(select(.alive == false)) | length >= 1'
	# job control
	failed=$(md5id 'fail now')
	expect 200 POST "$url/api/v1/jobs/$failed/retry" -d '{}'
	echo "$body" | jq -e '.status == "pending" and .attempts == 0'
	expect 200 POST "$url/api/v1/jobs/$failed/cancel" -H 'Content-Length: 0'
	echo "$body" | jq -e '.status == "cancelled"'
	expect 200 POST "$url/api/v1/queues/q1/pause" -d '{}'
	echo "$body" | jq -e '. == {"name":"q1","paused":true}'
	expect 200 GET "$url/api/v1/queues"
	echo "$body" | jq -e '.q1.paused and (.bad.paused | not)'
	expect 200 POST "$url/api/v1/queues/q1/resume" -d '{}'
	echo "$body" | jq -e '. == {"name":"q1","paused":false}'
	expect 200 POST "$url/api/v1/queues/bad/retry" -d '{}'
	echo "$body" | jq -e '. == {"queue":"bad","retried":0}'
	# (a failed job in the dead list again: the one cancelled above)
	rcli hset "wq:job:$failed" s failed >/dev/null
	rcli lpush wq:dead:bad "$failed" >/dev/null
	expect 200 POST "$url/api/v1/queues/bad/retry?max=10" -d '{}'
	echo "$body" | jq -e --arg id "$failed" '.retried == 1 and .taken == 1 and .jobs[0].callback == $id'
	expect 200 PUT "$url/api/v1/queues/q1/limits" -H 'Content-Type: application/json' \
	    -d '{"concurrency":2,"rate":50,"period_ms":1000}'
	echo "$body" | jq -e '. == {"name":"q1","limits":{"concurrency":2,"rate":50,"period_ms":1000}}'
	expect 200 GET "$url/api/v1/queues"
	echo "$body" | jq -e '.q1.limits.rate == 50'
	expect 200 PUT "$url/api/v1/queues/q1/limits" -H 'Content-Type: application/json' \
	    -d '{"clear":true}'
	echo "$body" | jq -e '. == {"name":"q1","limits":null}'
	expect 200 POST "$url/api/v1/queues/bad/purge" -d '{}'
	echo "$body" | jq -e '. == {"name":"bad","cancelled":1}'
	expect 200 GET "$url/api/v1/stats"
	echo "$body" | jq -e '.totals.worked >= 1'
	expect 200 GET "$url/api/v1/recent?limit=3"
	echo "$body" | jq -e 'length == 3'
	expect 200 GET "$url/api/v1/recent"
	expect 200 GET "$url/metrics"
	expect 200 HEAD "$url/metrics"
	# schedules
	expect 200 GET "$url/api/v1/cron"
	[ "$body" = '[]' ]
	expect 200 PUT "$url/api/v1/cron/tick" -H 'Content-Type: application/json' \
	    -d '{"spec":"*/15 * * * *","tz":"Europe/Paris","catch_up":2,
	    "job":{"data":{"n":1},"queue":"q1","timeout":5}}'
	echo "$body" | jq -e '.status == "added"'
	expect 200 PUT "$url/api/v1/cron/tock" -H 'Content-Type: application/json' \
	    -d '{"spec":"@every 1h"}'
	expect 200 POST "$url/api/v1/cron/tock/pause" -H 'Content-Length: 0'
	expect 200 GET "$url/api/v1/cron"
	echo "$body" | jq -e 'map(.name) == ["tick", "tock"] and
	    (.[0].next | length) == 3 and .[1].paused and .[1].next == []'
	expect 200 HEAD "$url/api/v1/cron"
	expect 200 POST "$url/api/v1/cron/tock/resume" -d '{}'
	echo "$body" | jq -e '.status == "resumed"'
	expect 200 DELETE "$url/api/v1/cron/tock"
	echo "$body" | jq -e '.status == "removed"'
	# the event stream: the worker's events, resumed after one
	answer_stream "$url/api/v1/events?queue=bad"
	[ "$code" = 200 ]
	echo "$body" | grep '^data: ' | cut -c7- | jq -s -e \
	    'map(.type) | index("failed") != null'
	first=$(echo "$body" | grep -m1 '^id: ' | cut -c5-)
	answer_stream "$url/api/v1/events?queue=bad" -H "Last-Event-ID: $first"
	[ "$code" = 200 ]
	[ -n "$first" ] && [ -z "$(echo "$body" | grep -x "id: $first")" ]
	checked
}

@test "4xx: bad input, unknown ids and paths, other methods, too large" {
	api_start api --max-body 4000 --max-data 100 --max-queues 1
	url=$(api_url api)
	for b in '{"data":' 'not json' '[1]' '{"nodata":1}' '{"data":1,"queue":"a b"}' \
	    '{"data":1,"timeout":0}' '{"data":1,"colour":"red"}' \
	    '{"data":1,"traceparent":"00-abc"}' '{"data":1,"in":-1}' \
	    '{"data":1,"at":"soon"}' '{"data":1,"in":"31d"}' \
	    '{"data":1,"priority":10}' '{"data":1,"after":"nope"}' \
	    '{"data":1,"key":"k","after":"8CE4B16B22B58894AA86C421E8759DF3"}'; do
		expect 400 POST "$url/api/v1/work" -d "$b"
	done
	expect 400 POST "$url/api/v1/work" -d '{"data":1}' \
	    -H 'traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'
	echo "$body" | jq -e '.error | test("traceparent")'
	expect 400 POST "$url/api/v1/work" -H 'Content-Length: 0'
	expect 400 GET "$url/api/v1/work/$ID_FOO?wait=soon"
	expect 400 GET "$url/api/v1/recent?limit=0"
	expect 400 GET "$url/api/v1/events?since=soon"
	expect 400 GET "$url/api/v1/events" -H 'Last-Event-ID: 99999999999999-0'
	# an ambiguous body length, on any route
	for p in / /healthz /metrics /api/v1/work/$ID_FOO /api/v1/peers \
	    /api/v1/queues /api/v1/stats /api/v1/recent /api/v1/ping \
	    /api/v1/openapi.json; do
		expect 400 GET "$url$p" -H 'Content-Length: 2' \
		    -H 'Transfer-Encoding: chunked' -d 'ab'
	done
	expect 400 POST "$url/api/v1/work" -H 'Content-Length: 12' \
	    -H 'Content-Length: 13' -d '{"data":"x"}'
	expect 404 GET "$url/api/v1/work/$ID_FOO"
	expect 404 GET "$url/api/v1/work/not-an-id"
	expect 404 GET "$url/nope"
	expect 404 GET "$url/api/v2/work"
	expect 405 GET "$url/api/v1/work"
	expect 405 DELETE "$url/api/v1/work/$ID_FOO"
	expect 405 POST "$url/api/v1/peers" -d '{}'
	expect 405 PUT "$url/healthz" -d '{}'
	expect 405 POST "$url/" -d '{}'
	expect 413 POST "$url/api/v1/work" -d "{\"data\":\"$(printf 'x%.0s' $(seq 4100))\"}"
	expect 413 POST "$url/api/v1/work" -d "{\"data\":\"$(printf 'y%.0s' $(seq 150))\"}"
	expect 415 POST "$url/api/v1/work" -H 'Content-Type: text/plain' -d '{"data":"x"}'
	expect 421 POST "$url/api/v1/work" -H 'Host: wq.attacker.example' -d '{"data":"x"}'
	# a new queue past --max-queues
	expect 200 POST "$url/api/v1/work" -d '{"data":"q","queue":"one"}'
	expect 422 POST "$url/api/v1/work" -d '{"data":"q","queue":"two"}'
	# schedules
	for b in '{"spec":"61 * * * *"}' '{"spec":"0 0 31 2 *"}' '{}' '[1]' \
	    '{"spec":"@every 1s","tz":"Mars/Base"}' '{"spec":"@every 1s","x":1}' \
	    '{"spec":"@every 1s","catch_up":-1}' '{"spec":"@every 1s","job":{"data":1,"key":"k"}}'; do
		expect 400 PUT "$url/api/v1/cron/c" -H 'Content-Type: application/json' -d "$b"
	done
	expect 400 PUT "$url/api/v1/cron/a%20b" -H 'Content-Type: application/json' \
	    -d '{"spec":"@every 1s"}'
	expect 400 DELETE "$url/api/v1/cron/$(printf 'n%.0s' $(seq 129))"
	expect 400 POST "$url/api/v1/cron/a:b/pause" -d '{}'
	expect 400 POST "$url/api/v1/cron/a:b/resume" -d '{}'
	expect 400 GET "$url/api/v1/cron" -H 'Content-Length: 2' \
	    -H 'Transfer-Encoding: chunked' -d 'ab'
	# job control
	expect 404 POST "$url/api/v1/jobs/$ID_FOO/cancel" -d '{}'
	expect 404 POST "$url/api/v1/jobs/$ID_FOO/retry" -d '{}'
	expect 404 POST "$url/api/v1/jobs/not-an-id/cancel" -d '{}'
	expect 404 POST "$url/api/v1/jobs/$ID_FOO/stop" -d '{}'
	# (in the queue made above: this instance takes no other, --max-queues 1)
	expect 200 POST "$url/api/v1/work" -d '{"data":"foo","queue":"one"}'
	expect 409 POST "$url/api/v1/jobs/$ID_FOO/retry" -d '{}'
	echo "$body" | jq -e '.error | test("pending")'
	expect 200 POST "$url/api/v1/jobs/$ID_FOO/cancel" -d '{}'
	expect 409 POST "$url/api/v1/jobs/$ID_FOO/cancel" -d '{}'
	q=$(printf 'q%.0s' $(seq 129))
	for v in retry pause resume purge; do
		expect 400 POST "$url/api/v1/queues/$q/$v" -d '{}'
		expect 415 POST "$url/api/v1/queues/q/$v" -H 'Content-Type: text/plain' -d '{}'
	done
	expect 400 POST "$url/api/v1/queues/one/retry?max=0" -d '{}'
	expect 400 POST "$url/api/v1/queues/one/retry?max=501" -d '{}'
	for b in '{}' '[1]' 'nope' '{"concurrency":0}' '{"rate":5}' '{"period_ms":50}' \
	    '{"concurrency":100001}' '{"rate":5,"period_ms":5}' '{"clear":1}' \
	    '{"concurrency":"2"}' '{"concurrency":2,"colour":"red"}'; do
		expect 400 PUT "$url/api/v1/queues/one/limits" -H 'Content-Type: application/json' -d "$b"
	done
	expect 400 PUT "$url/api/v1/queues/$q/limits" -H 'Content-Type: application/json' \
	    -d '{"concurrency":1}'
	expect 413 PUT "$url/api/v1/queues/one/limits" -H 'Content-Type: application/json' \
	    -d "{\"clear\":true,\"x\":\"$(printf 'x%.0s' $(seq 4100))\"}"
	expect 415 PUT "$url/api/v1/queues/one/limits" -H 'Content-Type: text/plain' -d '{"clear":true}'
	[ "$(rcli exists wq:limit:one)" = 0 ]
	expect 415 POST "$url/api/v1/jobs/$ID_FOO/cancel" -H 'Content-Type: text/plain' -d '{}'
	expect 415 POST "$url/api/v1/jobs/$ID_FOO/retry" -H 'Content-Type: text/plain' -d '{}'
	expect 404 DELETE "$url/api/v1/cron/none"
	expect 404 POST "$url/api/v1/cron/none/pause" -d '{}'
	expect 404 POST "$url/api/v1/cron/none/resume" -d '{}'
	expect 404 POST "$url/api/v1/cron/none/stop" -d '{}'
	expect 405 GET "$url/api/v1/cron/c"
	expect 405 POST "$url/api/v1/cron/c" -d '{}'
	expect 405 PUT "$url/api/v1/cron/c/pause" -H 'Content-Type: application/json' -d '{}'
	expect 405 POST "$url/api/v1/cron" -d '{}'
	expect 413 PUT "$url/api/v1/cron/c" -H 'Content-Type: application/json' \
	    -d "{\"spec\":\"@every 1s\",\"job\":{\"data\":\"$(printf 'x%.0s' $(seq 4100))\"}}"
	expect 415 PUT "$url/api/v1/cron/c" -H 'Content-Type: text/plain' -d '{"spec":"@every 1s"}'
	expect 415 POST "$url/api/v1/cron/c/pause" -H 'Content-Type: text/plain' -d '{}'
	expect 415 POST "$url/api/v1/cron/c/resume" -H 'Content-Type: text/plain' -d '{}'
	[ "$(rcli exists wq:schedules)" = 0 ]
	checked
}

@test "401: every route but /healthz needs the token, as described" {
	api_start api --token s3cr3t
	url=$(api_url api)
	for p in / /metrics /api/v1/work/$ID_FOO /api/v1/peers /api/v1/queues \
	    /api/v1/stats /api/v1/recent /api/v1/ping /api/v1/openapi.json \
	    /api/v1/events /nope; do
		expect 401 GET "$url$p"
		expect 401 GET "$url$p" -H 'Authorization: Bearer wrong'
	done
	expect 401 POST "$url/api/v1/work" -d '{"data":"foo"}'
	expect 401 GET "$url/api/v1/cron"
	expect 401 PUT "$url/api/v1/cron/c" -H 'Content-Type: application/json' \
	    -d '{"spec":"@every 1s"}'
	expect 401 DELETE "$url/api/v1/cron/c"
	expect 401 POST "$url/api/v1/cron/c/pause" -d '{}'
	expect 401 POST "$url/api/v1/cron/c/resume" -d '{}'
	for p in jobs/$ID_FOO/cancel jobs/$ID_FOO/retry queues/q/retry \
	    queues/q/pause queues/q/resume queues/q/purge; do
		expect 401 POST "$url/api/v1/$p" -d '{}'
	done
	expect 401 PUT "$url/api/v1/queues/q/limits" -H 'Content-Type: application/json' \
	    -d '{"clear":true}'
	expect 401 GET "$url/" -H 'Accept: text/html'
	echo "$body" | grep -q 'bearer token'
	expect 200 GET "$url/healthz"
	expect 200 POST "$url/api/v1/work" -H 'Authorization: Bearer s3cr3t' \
	    -d '{"data":"foo"}'
	expect 200 GET "$url/api/v1/work/$ID_FOO" -H 'Authorization: Bearer s3cr3t'
	checked
}

@test "503: every route that needs Redis, while Redis is down" {
	redis_start down
	api_start api --redis "unix://$(suite_dir)/down.sock"
	url=$(api_url api)
	expect 200 GET "$url/healthz"
	redis_stop down
	wait_for 10 sh -c "curl -s -o /dev/null -w '%{http_code}' $url/healthz | grep -qx 503"
	for p in /healthz /metrics /api/v1/work/$ID_FOO /api/v1/peers \
	    /api/v1/queues /api/v1/stats /api/v1/recent /api/v1/events; do
		expect 503 GET "$url$p"
	done
	expect 503 POST "$url/api/v1/work" -d '{"data":"foo"}'
	expect 503 GET "$url/api/v1/cron"
	expect 503 PUT "$url/api/v1/cron/c" -H 'Content-Type: application/json' \
	    -d '{"spec":"@every 1s"}'
	expect 503 DELETE "$url/api/v1/cron/c"
	expect 503 POST "$url/api/v1/cron/c/pause" -d '{}'
	expect 503 POST "$url/api/v1/cron/c/resume" -d '{}'
	for p in jobs/$ID_FOO/cancel jobs/$ID_FOO/retry queues/q/retry \
	    queues/q/pause queues/q/resume queues/q/purge; do
		expect 503 POST "$url/api/v1/$p" -d '{}'
	done
	expect 503 PUT "$url/api/v1/queues/q/limits" -H 'Content-Type: application/json' \
	    -d '{"clear":true}'
	# what needs no Redis still answers
	expect 200 GET "$url/api/v1/ping"
	expect 200 GET "$url/"
	checked
}

@test "504: --wait-replicas with fewer replicas than it asks" {
	api_start api --wait-replicas 1 --wait-timeout 50
	url=$(api_url api)
	expect 504 POST "$url/api/v1/work" -d '{"data":"foo"}'
	checked
}

@test "an answer that the document does not describe fails the check" {
	api_start api
	url=$(api_url api)
	answer GET "$url/api/v1/ping"
	answer PUT "$url/api/v1/ping" -d '{}'
	cp -r "$(suite_dir)/answers" "$(suite_dir)/kept"
	checked
	# the document says otherwise: each difference is caught
	jq '.components.schemas.Pong.properties.status.const = "pong"
	    | .paths["/api/v1/ping"].post = .paths["/api/v1/ping"].get
	    | .paths["/api/v1/ping"].post.operationId = "p"' "$DOC" \
	    >"$(suite_dir)/other.json"
	cp -r "$(suite_dir)/kept" "$(suite_dir)/answers"
	DOC=$(suite_dir)/other.json run checked
	assert_failure
	assert_output --partial "GET /api/v1/ping 200: the body does not match at /status"
	assert_output --partial "PUT /api/v1/ping 405: Allow says"
	jq 'del(.paths["/api/v1/ping"].get.responses["200"])' "$DOC" \
	    >"$(suite_dir)/other.json"
	cp -r "$(suite_dir)/kept" "$(suite_dir)/answers"
	DOC=$(suite_dir)/other.json run checked
	assert_failure
	assert_output --partial "status 200 is not documented"
}

@test "every answer the document names was seen by the tests above" {
	[ -s "$(suite_dir)/coverage" ]
	run "$PY" "$WQ_SRCDIR/tests/openapi.py" coverage "$DOC" "$(suite_dir)/coverage"
	assert_success
	assert_output ''
}
