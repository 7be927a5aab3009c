#!/usr/bin/env bats
# wq-submit: callback ids, duplicates, input modes, bad input.

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { stop_started; }

@test "data foo gets the callback id of the original system" {
	run wq-submit foo
	assert_success
	assert_output --partial '"callback":"ACBD18DB4CC2F85CEDEF654FCCC4A4D8"'
	assert_output --partial '"data":"foo","status":"accepted"'
	assert_output --regexp '"accepted_by":"submit-[0-9]+@'
	[ "$(rcli lrange wq:queue:default 0 -1)" = ACBD18DB4CC2F85CEDEF654FCCC4A4D8 ]
}

@test "ids are the MD5 of the data at every length round a block" {
	for n in 0 1 55 56 57 63 64 65 119 120 128 1000; do
		d=$(head -c "$n" /dev/zero | tr '\0' x)
		want=$(printf '%s' "$d" | md5sum | cut -c1-32 | tr a-f A-F)
		got=$(wq-submit -- "$d" | jq -r .callback)
		[ "$got" = "$want" ] || { echo "length $n: $got, not $want"; false; }
	done
}

@test "answer lines are what jq -c makes of the answer, for any string" {
	printf '%s\n' plain 'a"quote' 'back\slash' "$(printf 'tab\tand\001ctl\177del')" 'utf8 é ✓' '' |
	    wq-submit --lines >"$BATS_TEST_TMPDIR/out"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" = 6 ]
	jq -c . "$BATS_TEST_TMPDIR/out" >"$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
	run jq -r .data "$BATS_TEST_TMPDIR/out"
	assert_line --index 1 'a"quote'
	assert_line --index 2 'back\slash'
}

@test "the recent list stays bounded, newest first" {
	for i in $(seq 160); do wq-submit "r$i" >/dev/null; done
	n=$(rcli llen wq:recent)
	[ "$n" -ge 100 ]
	[ "$n" -le 150 ]
	[ "$(rcli lindex wq:recent 0)" = "$(md5id r160)" ]
	[ "$(rcli lindex wq:recent 99)" = "$(md5id r61)" ]
}

@test "a key or queue with a NUL in it is refused, nothing queued" {
	for j in '{"data":1,"key":"\u0000"}' '{"data":1,"key":"k\u0000x"}' \
	    '{"data":1,"queue":"a\u0000b"}'; do
		run wq-submit --json "$j"
		assert_failure 2
		assert_output --partial 'must not contain \u0000'
	done
	[ "$(rcli dbsize)" = 0 ]
}

@test "a JSON job object with string data hashes the same" {
	run sh -c 'echo "{\"data\":\"foo\"}" | wq-submit --json'
	assert_success
	assert_output --partial '"callback":"ACBD18DB4CC2F85CEDEF654FCCC4A4D8"'
}

@test "non-string data hashes as its compact JSON text" {
	want=$(printf '%s' '{"a":[1,2],"b":null}' | md5sum | cut -c1-32 | tr a-f A-F)
	run wq-submit --json '{"data": {"a": [1, 2], "b": null}}'
	assert_success
	assert_output --partial "\"callback\":\"$want\""
	want=$(printf '%s' '42' | md5sum | cut -c1-32 | tr a-f A-F)
	run wq-submit --json '{"data":42}'
	assert_output --partial "\"callback\":\"$want\""
}

@test "a key replaces the data as what the id hashes" {
	want=$(printf '%s' 'order-17' | md5sum | cut -c1-32 | tr a-f A-F)
	run wq-submit --json '{"data":"anything","key":"order-17"}'
	assert_success
	assert_output --partial "\"callback\":\"$want\""
	run wq-submit --key order-17 other
	assert_output --partial "\"callback\":\"$want\""
	assert_output --partial '"duplicate":true'
}

@test "a duplicate is not queued twice and says duplicate" {
	wq-submit foo >/dev/null
	run wq-submit foo
	assert_success
	assert_output --partial '"duplicate":true'
	assert_output --partial '"status":"pending"'
	[ "$(rcli llen wq:queue:default)" = 1 ]
	# twice in one batch too
	run wq-submit bar bar
	[ "$(rcli llen wq:queue:default)" = 2 ]
	[ "$(echo "$output" | grep -c '"duplicate":true')" = 1 ]
}

@test "a job whose record expired can be submitted again" {
	id=$(wq-submit --ttl 1 foo | jq -r .callback)
	# finish it by hand as a worker would, then let it expire
	start w wq-worker --jq . --ttl 1
	wait_for 20 status_is "$id" worked
	wait_for 20 sh -c "[ \$(rcli exists wq:job:$id) = 0 ]"
	run wq-submit foo
	assert_success
	refute_output --partial duplicate
	assert_output --partial '"status":"accepted"'
}

@test "--lines submits one job per line" {
	run sh -c 'seq 100 | wq-submit --lines | wc -l'
	assert_output 100
	[ "$(rcli llen wq:queue:default)" = 100 ]
}

@test "a malformed JSON line stops the stream: the lines before it are queued" {
	run sh -c 'printf "%s\n" "{\"data\":1}" "{\"data\":2}" "{\"data\":" "{\"data\":4}" | wq-submit --json'
	assert_failure 2
	assert_line --index 0 --partial '"data":1,"status":"accepted"'
	assert_line --index 1 --partial '"data":2,"status":"accepted"'
	assert_line --index 2 --regexp '^wq-submit: input 3: malformed JSON'
	[ "${#lines[@]}" = 3 ]
	[ "$(rcli lrange wq:queue:default 0 -1 | sort | tr '\n' ' ')" = "$(printf '%s\n' "$(md5id 1)" "$(md5id 2)" | sort | tr '\n' ' ')" ]
}

@test "--all-or-nothing: a malformed JSON line is refused and nothing is queued" {
	run sh -c 'printf "%s\n" "{\"data\":1}" "{\"data\":" "{\"data\":3}" | wq-submit --json --all-or-nothing'
	assert_failure 2
	assert_output --regexp '^wq-submit: input 2: malformed JSON'
	[ "${#lines[@]}" = 1 ]
	[ "$(rcli llen wq:queue:default)" = 0 ]
	[ "$(rcli dbsize)" = 0 ]
}

@test "missing data, unknown fields and bad types are usage errors" {
	run wq-submit --json '{"key":"x"}'
	assert_failure 2
	assert_output 'wq-submit: input 1: missing "data"'
	run wq-submit --json '{"data":1,"max_attempt":3}'
	assert_failure 2
	assert_output --partial 'unknown field "max_attempt"'
	run wq-submit --json '{"data":1,"timeout":"x"}'
	assert_failure 2
	run wq-submit --json '[1]'
	assert_failure 2
	[ "$(rcli dbsize)" = 0 ]
}

@test "data over --max-data is refused" {
	run wq-submit --max-data 10 12345678901
	assert_failure 2
	assert_output --partial 'over the limit of 10'
	run wq-submit --max-data 10 1234567890
	assert_success
}

@test "unknown options and bad settings exit 2 with one line" {
	run wq-submit --frobnicate foo
	assert_failure 2
	assert_output 'wq-submit: unknown or incomplete option --frobnicate (try --help)'
	run wq-submit --redis http://x foo
	assert_failure 2
	[ "${#lines[@]}" = 1 ]
	assert_output --partial 'bad Redis URL'
	run env WQ_REDIS=redis://h:99999 wq-submit foo
	assert_failure 2
	assert_output --partial 'WQ_REDIS: bad Redis URL: bad port'
	run wq-submit --ttl 0 foo
	assert_failure 2
	# a namespace with a colon would reach into another's keys
	run wq-submit --namespace wq:queue foo
	assert_failure 2
	assert_output --partial 'bad namespace'
	WQ_NAMESPACE=a:b run wq-submit foo
	assert_failure 2
	[ "$(rcli dbsize)" = 0 ]
}

@test "Redis unreachable exits 3 quickly and never shows the password" {
	# it gives up by itself, where a worker would keep trying (a wait
	# without end, which timeout turns into 124)
	t0=$(now_ms)
	run timeout -k 5 60 wq-submit --redis 'redis://:s3cret@127.0.0.1:1/0' foo
	echo "# wq-submit gave up in $(( $(now_ms) - t0 )) ms" >&3
	assert_failure 3
	refute_output --partial s3cret
	assert_output --partial 'cannot connect to Redis'
	run wq-submit --redis "unix://$(suite_dir)/nope.sock" foo
	assert_failure 3
}

@test "a wrong password is refused without echoing it" {
	rcli config set requirepass sesame >/dev/null
	run wq-submit --redis "$(redis_url_auth "" wrong)" foo
	rcli -a sesame --no-auth-warning config set requirepass '' >/dev/null
	assert_failure 3
	refute_output --partial wrong
	assert_output --partial 'refused the credentials'
}

@test "--help and --version" {
	run wq-submit --help
	assert_success
	assert_output --partial 'usage: wq-submit'
	run wq-submit --version
	assert_output --regexp '^wq-submit [0-9]+\.[0-9]+'
}

@test "the wq dispatcher runs the command" {
	run wq submit foo
	assert_success
	assert_output --partial ACBD18DB4CC2F85CEDEF654FCCC4A4D8
	run wq nosuch
	assert_failure 2
}

@test "a bulk submission survives the scripts being flushed under it" {
	# wq_submit keeps two script calls in flight; a NOSCRIPT in the
	# middle is redone by EVAL, in order, each job queued once.
	start flusher sh -c 'while :; do rcli script flush >/dev/null; sleep 0.01; done'
	seq 20000 | wq-submit --lines >"$(suite_dir)/answers"
	[ "$(wc -l <"$(suite_dir)/answers")" = 20000 ]
	[ "$(grep -c '"status":"accepted"' "$(suite_dir)/answers")" = 20000 ]
	[ "$(rcli llen wq:queue:default)" = 20000 ]
	[ "$(rcli lrange wq:queue:default 0 -1 | sort -u | wc -l)" = 20000 ]
	[ "$(rcli get wq:stats:submitted)" = 20000 ]
	# FIFO: the first line is the oldest, at the tail.
	[ "$(rcli lindex wq:queue:default -1)" = "$(printf 1 | md5sum | cut -c1-32 | tr a-f A-F)" ]
}

@test "the answers of a bulk submission are what jv makes of them" {
	wq-submit --name 'n"a\me' --lines 'with "quotes"' 'ünï ✓' '' >"$(suite_dir)/out"
	while IFS= read -r line; do
		[ "$(printf '%s' "$line" | jq -c .)" = "$line" ]
	done <"$(suite_dir)/out"
	[ "$(jq -r .accepted_by "$(suite_dir)/out" | sort -u)" = 'n"a\me' ]
	[ "$(jq -r .data "$(suite_dir)/out" | head -2 | tail -1)" = 'ünï ✓' ]
}

@test "an ACL user and its password from the URL" {
	rcli acl setuser wqacl on '>pw-acl' '~*' '&*' '+@all' >/dev/null
	run wq-submit --redis "$(redis_url_auth wqacl pw-acl)" foo
	assert_success
	assert_output --partial ACBD18DB4CC2F85CEDEF654FCCC4A4D8
	run wq-status --redis "$(redis_url_auth wqacl nope)" ACBD18DB4CC2F85CEDEF654FCCC4A4D8
	rcli acl deluser wqacl >/dev/null
	assert_failure 3
	refute_output --partial nope
}

@test "--traceparent and the traceparent field: checked, kept in the record" {
	tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
	for bad in 00-abc "${tp^^}" "ff${tp#00}" "$tp-more" \
	    00-00000000000000000000000000000000-00f067aa0ba902b7-01; do
		run wq-submit --traceparent "$bad" foo
		assert_failure 2
		assert_output --regexp '^wq-submit: bad traceparent: [^'$'\n'']*$'
	done
	run wq-submit --json '{"data":1,"traceparent":"00-abc"}'
	assert_failure 2
	assert_output --partial 'bad traceparent'
	run env TRACEPARENT=junk wq-submit foo
	assert_failure 2
	assert_output --partial '(from $TRACEPARENT)'
	[ "$(rcli dbsize)" = 0 ]
	# kept with the job, shown in its record
	id=$(wq-submit --traceparent "$tp" foo | jq -r .callback)
	[ "$(wq-status "$id" | jq -r .traceparent)" = "$tp" ]
	# the field beats the flag; a later version's fields are kept
	tp2=01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x=1
	id=$(wq-submit --traceparent "$tp" --json \
	    "{\"data\":2,\"traceparent\":\"$tp2\"}" | jq -r .callback)
	[ "$(wq-status "$id" | jq -r .traceparent)" = "$tp2" ]
	# $TRACEPARENT (a job that submits more work joins its trace)
	id=$(env TRACEPARENT="$tp" wq-submit bar | jq -r .callback)
	[ "$(wq-status "$id" | jq -r .traceparent)" = "$tp" ]
	id=$(wq-submit baz | jq -r .callback)
	wq-status "$id" | jq -e 'has("traceparent") | not'
}

@test "--max-queues: a new queue past it is refused, exit 2, nothing written" {
	wq-submit --queue q1 a >/dev/null
	wq-submit --queue q2 b >/dev/null
	before=$(rcli dbsize)
	run wq-submit --max-queues 2 --queue q3 c
	assert_failure 2
	assert_output --partial 'queue q3: there are 2 queues already'
	WQ_MAX_QUEUES=2 run wq-submit --queue q3 c
	assert_failure 2
	[ "$(rcli dbsize)" = "$before" ]
	[ "$(rcli sismember wq:queues q3)" = 0 ]
	# the queues there are still take work
	run wq-submit --max-queues 2 --queue q1 d
	assert_success
	run wq-submit --max-queues 3 --queue q3 c
	assert_success
	run wq-submit --max-queues 0 x
	assert_failure 2
	assert_output --partial 'bad --max-queues'
}

@test "a queue empty and unused for a day leaves the set of queues; one with work stays" {
	wq-submit --queue idle a >/dev/null
	rcli del wq:queue:idle >/dev/null
	rcli lpush wq:dead:idle x >/dev/null
	wq-submit --queue busy b >/dev/null
	# both last used two days ago, as the sweep sees them
	old=$(( $(redis_ms) - 2 * 86400000 ))
	rcli zadd wq:queues:used "$old" idle "$old" busy >/dev/null
	start w1 wq-worker --queue none --heartbeat 0.1 --sleep 0
	wait_for 20 eval '[ "$(rcli sismember wq:queues idle)" = 0 ]'
	[ "$(rcli exists wq:dead:idle)" = 0 ]
	[ -z "$(rcli zscore wq:queues:used idle)" ]
	[ "$(rcli sismember wq:queues busy)" = 1 ]
}

@test "a delayed:<q> the sweep was never told of is still found and promoted" {
	id=$(wq-submit --queue lost x | jq -r .callback)
	rcli rpop wq:queue:lost >/dev/null
	rcli zadd wq:delayed:lost 1 "$id" >/dev/null
	[ -z "$(rcli zscore wq:later lost)" ]
	start w1 wq-worker --queue none --heartbeat 0.1 --sleep 0
	wait_for 20 eval '[ "$(rcli lrange wq:queue:lost 0 -1)" = "$id" ]'
}
