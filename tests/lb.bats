#!/usr/bin/env bats
# HAProxy in front of two wq-api instances: a real haproxy, with the
# configuration of deploy/haproxy.cfg made local (loopback ports instead of
# Docker's DNS, faster health checks), the original curl session through
# it, round robin, an instance killed, work that wq-worker does, and the
# schedules' routes (/api/v1/cron) and job control's through it.

load helpers
load api-helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { api_teardown; }

ID_FOO=ACBD18DB4CC2F85CEDEF654FCCC4A4D8
TP=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01

# deploy/haproxy.cfg with the servers a and b on their loopback ports, the
# frontends on free ports, checks every 200 ms, no DNS.
lb_config() {
	local cfg=$WQ_SRCDIR/deploy/haproxy.cfg out=$1
	sed -e "s/^\tbind :80\$/\tbind 127.0.0.1:$LB_PORT/" \
	    -e "s/^\tbind :8404\$/\tbind 127.0.0.1:$STATS_PORT/" \
	    -e "s/^\tserver-template .*/\tserver a 127.0.0.1:$(api_port a)\n\tserver b 127.0.0.1:$(api_port b)/" \
	    -e 's/ resolvers docker init-addr [^ ]*//' \
	    -e 's/inter 1s/inter 200ms/' \
	    -e '/^resolvers docker/,/^$/d' \
	    -e 's/^\tmaxconn .*/\tmaxconn 1000/' \
	    "$cfg" >"$out"
	# the edits took
	grep -q "server a 127.0.0.1:$(api_port a)" "$out"
	grep -q "bind 127.0.0.1:$LB_PORT" "$out"
	! grep -v '^\s*#' "$out" | grep -q 'resolvers\|server-template\|:80$'
}

# status NAME: the state HAProxy's statistics give server NAME (UP, DOWN...)
server_state() {
	curl -s "http://127.0.0.1:$STATS_PORT/stats;csv" |
	    awk -F, -v s="$1" '$1 == "api" && $2 == s { print $18 }'
}

server_is() {
	[ "$(server_state "$1")" = "$2" ]
}

# Two instances, HAProxy in front; LB is its URL.
cluster_start() {
	api_start a "$@"
	api_start b "$@"
	LB_PORT=$(free_port)
	STATS_PORT=$(free_port)
	lb_config "$(suite_dir)/haproxy.cfg"
	haproxy -c -q -f "$(suite_dir)/haproxy.cfg"
	start lb haproxy -db -f "$(suite_dir)/haproxy.cfg"
	LB="http://127.0.0.1:$LB_PORT"
	wait_for 20 server_is a UP
	wait_for 20 server_is b UP
}

name_of() {
	echo "api-$(api_pid "$1")@$(hostname)"
}

@test "deploy/haproxy.cfg is valid, round robin, with health checks on /healthz" {
	cfg=$WQ_SRCDIR/deploy/haproxy.cfg
	haproxy -c -q -f "$cfg" >/dev/null 2>&1
	grep -qE '^\s*balance roundrobin' "$cfg"
	grep -qE 'http-check send meth GET uri /healthz' "$cfg"
	grep -qE '^\s*timeout server ([4-9][0-9]|[1-9][0-9][0-9])s' "$cfg"
}

@test "the original curl session through the load balancer" {
	cluster_start --ttl 2
	run curl -H 'Content-Type: application/json' -s -XPOST -d '{"data":"foo"}' "$LB/api/v1/work"
	assert_success
	assert_output --regexp "^\{\"accepted_by\":\"($(name_of a)|$(name_of b))\",\"callback\":\"$ID_FOO\",\"data\":\"foo\",\"status\":\"accepted\"\}\$"
	run curl -s "$LB/api/v1/work/$ID_FOO"
	assert_output --partial '"status":"pending"'
	start worker wq-worker --sleep 2
	wait_for 20 sh -c "curl -s '$LB/api/v1/work/$ID_FOO' | grep -q '\"status\":\"working\"'"
	wait_for 20 sh -c "curl -s '$LB/api/v1/work/$ID_FOO' | grep -q '\"status\":\"worked\"'"
	wait_for 20 sh -c "curl -s '$LB/api/v1/work/$ID_FOO' | grep -q '404. not found'"
	run curl -s "$LB/api/v1/work/$ID_FOO"
	assert_output '{"status":"404. not found!","error":"not found"}'
}

@test "requests alternate between the instances" {
	cluster_start
	names=()
	for i in 1 2 3 4 5 6; do
		names+=("$(curl -H 'Content-Type: application/json' -s -XPOST -d "{\"data\":\"rr-$i\"}" "$LB/api/v1/work" | jq -r .accepted_by)")
	done
	printf '%s\n' "${names[@]}"
	[ "$(printf '%s\n' "${names[@]}" | sort -u | tr '\n' ' ')" = "$(printf '%s\n' "$(name_of a)" "$(name_of b)" | sort | tr '\n' ' ')" ]
	for i in 1 2 3 4 5; do
		[ "${names[$i]}" != "${names[$((i - 1))]}" ]
	done
	# reads too, on one keep-alive connection
	n=$(curl -s "$LB/healthz" "$LB/healthz" "$LB/healthz" "$LB/healthz" |
	    jq -r .node | sort -u | wc -l)
	[ "$n" = 2 ]
}

@test "a killed instance loses no request, during or after the health check" {
	cluster_start
	# requests keep coming while instance a is killed
	out=$(suite_dir)/during.out
	(
		for i in $(seq 40); do
			curl -s -o /dev/null -w '%{http_code}\n' -XPOST \
			    -H 'Content-Type: application/json' \
			    -d "{\"data\":\"during-$i\"}" "$LB/api/v1/work"
			sleep 0.05
		done
	) >"$out" &
	loop=$!
	sleep 0.5
	# the whole instance dies at once: Kore's parent and its workers
	kill -9 $(ps -o pid= --ppid "$(api_pid a)") "$(api_pid a)"
	wait_for 20 server_is a DOWN
	wait "$loop"
	[ "$(sort -u "$out")" = 200 ]
	[ "$(wc -l <"$out")" = 40 ]
	[ "$(rcli llen wq:queue:default)" = 40 ]
	# once it is down, everything goes to b
	for i in $(seq 20); do
		http POST "$LB/api/v1/work" -d "{\"data\":\"after-$i\"}"
		[ "$code" = 200 ]
		echo "$body" | jq -e --arg b "$(name_of b)" '.accepted_by == $b'
	done
	# a comes back into the rotation when it is started again
	API_PORT=$(api_port a) api_start a
	wait_for 20 server_is a UP
	names=$(for i in 1 2 3 4; do curl -s "$LB/healthz" | jq -r .node; done | sort -u | wc -l)
	[ "$names" = 2 ]
	http GET "$LB/api/v1/queues"
	[ "$code" = 200 ]
	echo "$body" | jq -e '.default.pending == 60'
}

@test "work submitted through the load balancer is worked and readable through it" {
	cluster_start --token lbtok
	export WQ_TOKEN=lbtok
	start worker wq-worker --jq '{twice: (. + .)}'
	run sh -c "wq-submit --api '$LB' ab cd ef gh | wq-status --api '$LB' --wait"
	echo "$output"
	assert_success
	[ "${#lines[@]}" = 4 ]
	[ "$(echo "$output" | jq -r .status | sort -u)" = worked ]
	echo "$output" | jq -s -e 'map(select(.data == "cd"))[0].result == {"twice":"cdcd"}'
	# the instances both took submissions
	[ "$(echo "$output" | jq -r .accepted_by | sort -u | wc -l)" = 2 ]
	# a long wait goes through HAProxy's timeouts
	curl -H 'Content-Type: application/json' -s -XPOST -H 'Authorization: Bearer lbtok' -d '{"data":"late","queue":"later"}' "$LB/api/v1/work" >/dev/null
	t0=$(date +%s)
	http GET "$LB/api/v1/work/$(md5id late)?wait=3" -H 'Authorization: Bearer lbtok'
	[ "$code" = 200 ]
	echo "$body" | jq -e '.status == "pending"'
	[ $(( $(date +%s) - t0 )) -ge 2 ]
	# without the token, HAProxy passes the 401 on
	http GET "$LB/api/v1/queues"
	[ "$code" = 401 ]
	# the cluster view through the load balancer names both instances
	http GET "$LB/api/v1/peers" -H 'Authorization: Bearer lbtok'
	echo "$body" | jq -e 'map(select(.role == "api")) | length == 2'
	# a trace context through HAProxy reaches the job's command
	start tracer wq-worker --queue traced --exec 'echo "$TRACEPARENT"'
	http POST "$LB/api/v1/work" -H 'Authorization: Bearer lbtok' \
	    -H "traceparent: $TP" -d '{"data":"t","queue":"traced"}'
	[ "$code" = 200 ]
	http GET "$LB/api/v1/work/$(md5id t)?wait=10" -H 'Authorization: Bearer lbtok'
	echo "$body" | jq -e --arg tp "$TP" \
	    '.status == "worked" and .result == $tp and .traceparent == $tp'
	# and a malformed one is refused through it
	http POST "$LB/api/v1/work" -H 'Authorization: Bearer lbtok' \
	    -H 'traceparent: 00-nothex' -d '{"data":"u","queue":"traced"}'
	[ "$code" = 400 ]
	echo "$body" | jq -e '.error | test("bad traceparent")'
	# the event stream through HAProxy: a client that comes back with
	# Last-Event-ID (to either instance) gets what came while it was
	# away, and nothing twice; one that had dealt with the first of
	# many events of an entry (3 submissions: ids ENTRY.1..3) is given
	# the other 2 again
	dir=$(suite_dir)
	wq-submit --queue sse-idle s1 s2 s3 >/dev/null
	start sse1 curl -s -N -H 'Authorization: Bearer lbtok' "$LB/api/v1/events"
	n=$(wq-events | wc -l)
	wait_for 20 eval '[ "$(grep -c "^id: " "$dir/sse1.log")" -ge "$n" ]'
	kill "$(pid_of sse1)"
	wq-submit --api "$LB" sse-a sse-b | wq-status --api "$LB" --wait >/dev/null
	last=$(grep '^id: ' "$dir/sse1.log" | tail -n 3 | head -n 1 | cut -c5-)
	[[ $last == *-*.1 ]]
	start sse2 curl -s -N -H 'Authorization: Bearer lbtok' \
	    -H "Last-Event-ID: $last" "$LB/api/v1/events"
	n=$(wq-events | wc -l)
	wait_for 20 eval '[ "$(cat "$dir"/sse[12].log | grep -c "^id: ")" -ge \
	    "$(( n + 2 ))" ]'
	[ "$({ grep '^id: ' "$dir/sse1.log" | head -n -2
	    cat "$dir/sse2.log"; } | grep '^id: ' | cut -c5-)" = \
	    "$(wq-events | jq -r .id)" ]
	[ "$(grep '^data: ' "$dir/sse2.log" | cut -c7- | jq -r \
	    'select(.type == "worked") | .callback' | sort)" = \
	    "$(printf '%s\n' "$(md5id sse-a)" "$(md5id sse-b)" | sort)" ]
	http GET "$LB/api/v1/events?since=later" -H 'Authorization: Bearer lbtok'
	[ "$code" = 400 ]
}

@test "schedules through the load balancer: one state whichever instance answers" {
	cluster_start --token s3cret
	auth=(-H 'Authorization: Bearer s3cret')
	json=(-H 'Content-Type: application/json')
	# every Kore worker behind the balancer has its link to Redis (a
	# loaded machine may bring one up after the health check passed)
	wait_for 20 sh -c "for i in 1 2 3 4 5 6 7 8; do
	    curl -s -o /dev/null -w '%{http_code}\n' \
	    -H 'Authorization: Bearer s3cret' $LB/api/v1/cron; done |
	    grep -qvx 200 && exit 1; exit 0"
	http PUT "$LB/api/v1/cron/tick" "${auth[@]}" "${json[@]}" \
	    -d '{"spec":"@every 1s","job":{"data":"tick","queue":"cq"}}'
	[ "$code" = 200 ]
	echo "$body" | jq -e '.name == "tick" and .status == "added"'
	# both instances list it (round robin), as wq-cron does
	for i in 1 2; do
		http GET "$LB/api/v1/cron" "${auth[@]}"
		[ "$code" = 200 ]
		echo "$body" | jq -e 'length == 1 and .[0].name == "tick" and
		    .[0].job == {"data":"tick","queue":"cq","ttl":3600} and
		    (.[0].next | length) == 3 and .[0].paused == false'
	done
	wq-cron ls | jq -e '.name == "tick" and .spec == "@every 1s"'
	# the token is needed through the balancer too
	http DELETE "$LB/api/v1/cron/tick"
	[ "$code" = 401 ]
	# a worker fires it: jobs of queue cq, keyed by name and time
	start worker wq-worker --queue cq --jq '.'
	wait_for 20 sh -c "curl -s -H 'Authorization: Bearer s3cret' $LB/api/v1/cron |
	    jq -e '.[0].last != null'"
	last=$(curl -s "${auth[@]}" "$LB/api/v1/cron" | jq -r '.[0].last')
	t=$(date -u -d "$last" +%s)
	wait_for 20 sh -c "wq-status $(md5id "cron:tick:$t") | grep -q '\"status\":\"worked\"'"
	# pause, resume, remove: each instance sees the other's change
	http POST "$LB/api/v1/cron/tick/pause" "${auth[@]}" -d '{}'
	[ "$code" = 200 ] && [ "$(echo "$body" | jq -r .status)" = paused ]
	http GET "$LB/api/v1/cron" "${auth[@]}"
	echo "$body" | jq -e '.[0].paused and .[0].next == []'
	[ -z "$(rcli zscore wq:cron tick)" ]
	http POST "$LB/api/v1/cron/tick/resume" "${auth[@]}" -d '{}'
	[ "$code" = 200 ] && [ "$(echo "$body" | jq -r .status)" = resumed ]
	[ -n "$(rcli zscore wq:cron tick)" ]
	http DELETE "$LB/api/v1/cron/tick" "${auth[@]}"
	[ "$code" = 200 ] && [ "$(echo "$body" | jq -r .status)" = removed ]
	http DELETE "$LB/api/v1/cron/tick" "${auth[@]}"
	[ "$code" = 404 ]
	[ -z "$(wq-cron ls)" ]
}

@test "job control through the balancer: cancel, retry, pause, resume, retry all" {
	cluster_start --token s3cret
	auth=(-H 'Authorization: Bearer s3cret')
	id=$(wq-submit --queue jc --max-attempts 1 one | jq -r .callback)
	# the token is needed
	http POST "$LB/api/v1/jobs/$id/cancel" -d '{}'
	[ "$code" = 401 ]
	status_is "$id" pending
	http POST "$LB/api/v1/jobs/$id/cancel" "${auth[@]}" -d '{}'
	[ "$code" = 200 ]
	echo "$body" | jq -e --arg id "$id" '.callback == $id and .status == "cancelled"'
	# again, on the other instance: the job is no longer pending
	http POST "$LB/api/v1/jobs/$id/cancel" "${auth[@]}" -d '{}'
	[ "$code" = 409 ]
	http POST "$LB/api/v1/jobs/$id/retry" "${auth[@]}" -d '{}'
	[ "$code" = 200 ]
	echo "$body" | jq -e '.status == "pending" and .attempts == 0'
	# pause: a worker leaves the queue alone until resumed
	http POST "$LB/api/v1/queues/jc/pause" "${auth[@]}" -d '{}'
	[ "$code" = 200 ] && echo "$body" | jq -e '.paused'
	start worker wq-worker --queue jc --jq 'error("no")'
	wait_for 20 eval '[ "$(rcli zcard wq:nodes)" -ge 3 ]'
	http GET "$LB/api/v1/queues" "${auth[@]}"
	echo "$body" | jq -e '.jc.paused and .jc.pending == 1'
	status_is "$id" pending
	http POST "$LB/api/v1/queues/jc/resume" "${auth[@]}" -d '{}'
	[ "$code" = 200 ] && echo "$body" | jq -e '.paused == false'
	wait_for 20 status_is "$id" failed
	# retry the whole dead list
	kill "$(pid_of worker)"
	http POST "$LB/api/v1/queues/jc/retry" "${auth[@]}" -d '{}'
	[ "$code" = 200 ]
	echo "$body" | jq -e '. == {"queue":"jc","retried":1}'
	status_is "$id" pending
	[ "$(rcli llen wq:dead:jc)" = 0 ]
	http POST "$LB/api/v1/jobs/0123456789ABCDEF0123456789ABCDEF/retry" \
	    "${auth[@]}" -d '{}'
	[ "$code" = 404 ]
}
