#!/usr/bin/env bats
# Pipelines that stream: wq-submit and wq-status act on each line as it
# arrives, from producers that may never close their output.  The tests
# feed a FIFO held open by the test itself (file descriptor 5), so that
# they decide when each line is written and whether the input ever ends;
# they check the order of events (a record is printed before the next
# line is even written), never how long something took.

load helpers
load api-helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() {
	redis_flush
	fifo="$BATS_TEST_TMPDIR/in"
	out="$BATS_TEST_TMPDIR/out"
	mkfifo "$fifo"
	: >"$out"
}
teardown() {
	exec 5>&- 2>/dev/null || true
	api_teardown
}

# open_producer: this shell becomes the producer, writing on fd 5.
# Everything that must outlive the test's lines is started before, so
# that no other process holds the FIFO's write end.
open_producer() {
	exec 5>"$fifo"
}

# has_line FILE REGEXP: the file has a line that matches.
has_line() {
	grep -q -E "$2" "$1"
}

# rc_of NAME: the exit status that `start NAME sh -c '...; echo $? >NAME.rc'`
# left in the test's directory.
rc_of() {
	cat "$BATS_TEST_TMPDIR/$1.rc"
}

@test "a producer that never closes: each job is queued, worked and printed as its line comes" {
	start w1 wq-worker --jq '"done-" + .'
	start pipe sh -c "wq-submit --lines <'$fifo' | wq-status --wait >'$out'"
	open_producer
	echo first >&5
	wait_for 30 has_line "$out" '"status":"worked","data":"first".*"result":"done-first"'
	# the producer is still open, and the pipeline waits for more
	kill -0 "$(pid_of pipe)"
	[ "$(wc -l <"$out")" = 1 ]
	echo second >&5
	wait_for 30 has_line "$out" '"data":"second"'
	kill -0 "$(pid_of pipe)"
	sed -n 1p "$out" | grep -q '"data":"first"'
	# closing the input ends it, once every id has ended
	exec 5>&-
	wait_for 30 sh -c "! kill -0 $(pid_of pipe) 2>/dev/null"
	[ "$(wc -l <"$out")" = 2 ]
}

@test "wq-submit answers each line as it comes, and queues it" {
	start sub sh -c "wq-submit --lines <'$fifo' >'$out'"
	open_producer
	echo one >&5
	wait_for 30 has_line "$out" '"data":"one","status":"accepted"'
	[ "$(rcli lrange wq:queue:default 0 -1)" = "$(md5id one)" ]
	echo two >&5
	wait_for 30 has_line "$out" '"data":"two","status":"accepted"'
	[ "$(rcli llen wq:queue:default)" = 2 ]
	kill -0 "$(pid_of sub)"
}

@test "wq-status without --wait prints each record as its id comes" {
	wq-submit a b >/dev/null
	start st sh -c "wq-status <'$fifo' >'$out'"
	open_producer
	md5id a >&5
	wait_for 30 has_line "$out" '"data":"a"'
	[ "$(wc -l <"$out")" = 1 ]
	# a wq-submit answer works as well as a plain id
	wq-submit b >&5
	wait_for 30 has_line "$out" '"status":"pending","data":"b"'
	kill -0 "$(pid_of st)"
}

@test "a bad line in the middle of an endless stream: the lines before it are queued, then exit 2" {
	start sub sh -c "wq-submit --json <'$fifo' >'$out' 2>'$BATS_TEST_TMPDIR/err'; echo \$? >'$BATS_TEST_TMPDIR/sub.rc'"
	open_producer
	echo '{"data":"a"}' >&5
	wait_for 30 has_line "$out" '"data":"a"'
	# one write: a good line, a bad one, a good one; the producer stays
	printf '%s\n' '{"data":"b"}' '{"data":' '{"data":"d"}' >&5
	wait_for 30 test -s "$BATS_TEST_TMPDIR/sub.rc"
	[ "$(rc_of sub)" = 2 ]
	[ "$(cat "$BATS_TEST_TMPDIR/err")" = 'wq-submit: input 3: malformed JSON: unexpected end of the text at byte 8' ]
	# a and b queued and answered once each; nothing of d
	run jq -r .data "$out"
	assert_output "a
b"
	[ "$(rcli lrange wq:queue:default 0 -1 | sort)" = "$(printf '%s\n' "$(md5id a)" "$(md5id b)" | sort)" ]
	[ "$(rcli exists "wq:job:$(md5id d)")" = 0 ]
}

@test "wq-status --wait: a bad line ends the input; the ids before it are waited for, then exit 2" {
	ida=$(wq-submit a | jq -r .callback)
	start st sh -c "wq-status --wait <'$fifo' >'$out' 2>'$BATS_TEST_TMPDIR/err'; echo \$? >'$BATS_TEST_TMPDIR/st.rc'"
	open_producer
	printf '%s\n' "$ida" nonsense "$(md5id zz)" >&5
	wait_for 30 grep -q 'input 2: not a callback id' "$BATS_TEST_TMPDIR/err"
	# still waiting for a, though the producer is open and has more
	kill -0 "$(pid_of st)"
	[ ! -s "$out" ]
	start w1 wq-worker --jq .
	wait_for 30 test -s "$BATS_TEST_TMPDIR/st.rc"
	[ "$(rc_of st)" = 2 ]
	run jq -r '.data + " " + .status' "$out"
	assert_output "a worked"
}

@test "wq-status --wait --timeout on a stream that stays open: exit 1, the pending job named" {
	id=$(wq-submit --queue nowhere lonely | jq -r .callback)
	start st sh -c "wq-status --wait --timeout 1 <'$fifo' >'$out' 2>'$BATS_TEST_TMPDIR/err'; echo \$? >'$BATS_TEST_TMPDIR/st.rc'"
	open_producer
	echo "$id" >&5
	wait_for 30 test -s "$BATS_TEST_TMPDIR/st.rc"
	[ "$(rc_of st)" = 1 ]
	grep -q "$id: not finished before the timeout" "$BATS_TEST_TMPDIR/err"
	has_line "$out" '"status":"pending"'
}

# numsub ID: how many connections are subscribed to the job's done channel.
numsub() {
	rcli pubsub numsub "wq:done:$1" | tail -1
}

# The ids of the subscriber connections.
pubsub_clients() {
	rcli client list type pubsub | sed 's/^id=\([0-9]*\) .*/\1/' | sort | tr '\n' ' '
}

# resubscribed OLD ID: other subscriber connections than OLD, and ID's
# channel has a subscriber.
resubscribed() {
	[ "$(pubsub_clients)" != "$1" ] && [ "$(numsub "$2")" = 1 ]
}

@test "wq-status --wait: the subscriber link broken, it subscribes again and still sees the end" {
	id=$(wq-submit patient | jq -r .callback)
	start st sh -c "wq-status --wait --timeout 60 $id >'$out'"
	wait_for 30 sh -c "[ \"\$(rcli pubsub numsub wq:done:$id | tail -1)\" = 1 ]"
	old=$(pubsub_clients)
	[ -n "$old" ]
	rcli client kill type pubsub >/dev/null
	# a new subscriber connection, on the job's channel again
	wait_for 30 resubscribed "$old" "$id"
	[ ! -s "$out" ]
	start w1 wq-worker --jq .
	wait_for 30 sh -c "! kill -0 $(pid_of st) 2>/dev/null"
	has_line "$out" '"status":"worked","data":"patient"'
	# and it let go of the channel on its way out
	[ "$(numsub "$id")" = 0 ]
}

# each_subscribed FILE: every id in FILE has a subscriber on its channel.
each_subscribed() {
	local id
	while read -r id; do
		[ "$(numsub "$id")" = 1 ] || return 1
	done <"$1"
}

# ended_subs: how many connections follow the channel ended.
ended_subs() {
	rcli pubsub numsub wq:ended | tail -1
}

@test "wq-status --wait: many ids in flight are followed on ended, the last few on their own channels" {
	seq 300 | wq-submit --lines >"$BATS_TEST_TMPDIR/ids"
	for i in $(seq 10); do echo "slow$i"; done |
	    wq-submit --lines --queue slow | tee -a "$BATS_TEST_TMPDIR/ids" |
	    jq -r .callback >"$BATS_TEST_TMPDIR/slow"
	# one read of a file: 310 ids in flight at once
	start st sh -c "wq-status --wait --timeout 120 <'$BATS_TEST_TMPDIR/ids' >'$out'"
	wait_for 30 eval '[ "$(ended_subs)" = 1 ]'
	[ "$(rcli pubsub channels 'wq:done:*' | grep -c .)" = 0 ]
	start w1 wq-worker --jq .
	wait_for 60 sh -c "[ \$(wc -l <'$out') = 300 ]"
	# 10 left: each on its own channel, subscribed before ended goes
	wait_for 30 each_subscribed "$BATS_TEST_TMPDIR/slow"
	wait_for 30 eval '[ "$(ended_subs)" = 0 ]'
	kill -0 "$(pid_of st)"
	start w2 wq-worker --jq . --queue slow
	wait_for 60 sh -c "! kill -0 $(pid_of st) 2>/dev/null"
	[ "$(wc -l <"$out")" = 310 ]
	[ "$(jq -r .callback "$out" | sort -u | wc -l)" = 310 ]
	[ "$(jq -r .status "$out" | sort -u)" = worked ]
}

@test "wq-status --wait where an ACL refuses the channel ended: a channel each, still" {
	rcli acl setuser old on '>pw' resetchannels '+@all' '~*' \
	    '&wq:done:*' '&wq:wake:*' >/dev/null
	seq 300 | wq-submit --lines >"$BATS_TEST_TMPDIR/ids"
	start st sh -c "WQ_REDIS='$(redis_url_auth old pw)' wq-status --wait --timeout 120 <'$BATS_TEST_TMPDIR/ids' >'$out'"
	wait_for 30 eval '[ "$(rcli pubsub channels "wq:done:*" | grep -c .)" = 300 ]'
	start w1 wq-worker --jq .
	wait_for 60 sh -c "! kill -0 $(pid_of st) 2>/dev/null"
	rcli acl deluser old >/dev/null
	[ "$(jq -r .callback "$out" | sort -u | wc -l)" = 300 ]
	[ "$(jq -r .status "$out" | sort -u)" = worked ]
}

@test "wq-status --wait stops when its reader has gone, though its input stays open" {
	wq-submit a b >/dev/null
	start w1 wq-worker --jq .
	wait_for 30 sh -c "[ \"\$(rcli get wq:stats:worked)\" = 2 ]"
	start st sh -c "wq-status --wait <'$fifo' | head -1 >'$out'"
	open_producer
	md5id a >&5
	wait_for 30 has_line "$out" '"data":"a"'
	# head has gone: the next record finds no reader
	md5id b >&5
	wait_for 30 sh -c "! kill -0 $(pid_of st) 2>/dev/null"
	[ "$(wc -l <"$out")" = 1 ]
}

@test "an id given twice is printed twice, and waited for once" {
	start w1 wq-worker --jq .
	run sh -c 'wq-submit x x y | wq-status --wait --timeout 60 --jq .data'
	assert_success
	[ "$(echo "$output" | sort | tr '\n' ' ')" = '"x" "x" "y" ' ]
}

@test "wq-status --wait of ended ids prints their records, in input order, byte for byte as wq-status" {
	seq 300 | wq-submit --lines >/dev/null
	start w1 wq-worker --jq '{n: ., s: ("x\u0001" + .)}'
	wait_for 60 sh -c "[ \"\$(rcli get wq:stats:worked)\" = 300 ]"
	seq 300 | wq-submit --lines >"$BATS_TEST_TMPDIR/ids"
	wq-status <"$BATS_TEST_TMPDIR/ids" >"$BATS_TEST_TMPDIR/plain"
	wq-status --wait <"$BATS_TEST_TMPDIR/ids" >"$out"
	cmp "$BATS_TEST_TMPDIR/plain" "$out"
	# and what jq makes of them
	jq -c . "$out" | cmp - "$out"
	[ "$(jq -r .result.n "$out" | head -3 | tr '\n' ' ')" = '1 2 3 ' ]
}

@test "wq-status --wait over 200,000 ended ids: resident memory stays under 16 MB" {
	# 40,000 jobs, their ids read 5 times over: the memory is that of
	# the ids in flight, not of the ids read, and the drain is short
	seq 40000 | wq-submit --lines >/dev/null
	start w1 wq-worker --jq . --quiet
	start w2 wq-worker --jq . --quiet
	wait_for 600 sh -c "[ \"\$(rcli get wq:stats:worked)\" = 40000 ]"
	stop_started
	# A sanitizer's quarantine keeps what is freed: bounded too, here.
	start st sh -c "exec env ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}quarantine_size_mb=1 wq-status --wait <'$fifo' >'$out'"
	open_producer
	# the ids as wq-submit answers them (duplicates: records, worked)
	for _ in 1 2 3 4 5; do seq 40000 | wq-submit --lines; done >&5
	wait_for 600 sh -c "[ \$(wc -l <'$out') = 200000 ]"
	pid=$(pid_of st)
	hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
	echo "peak RSS: $hwm kB"
	exec 5>&-
	wait_for 30 sh -c "! kill -0 $pid 2>/dev/null"
	[ "$(jq -r .status "$out" | sort -u)" = worked ]
	if nm "$WQ_BUILDDIR/lib/.libs/libwq.a" 2>/dev/null | grep -q __asan_report; then
		[ "$hwm" -lt 65536 ]	# ASan's shadow memory and allocator
	else
		[ "$hwm" -lt 16384 ]
	fi
}

@test "through the API: a producer that never closes is served line by line" {
	api_start api
	url=$(api_url api)
	start w1 wq-worker --jq '"done-" + .'
	start pipe sh -c "wq-submit --api '$url' --lines <'$fifo' | wq-status --api '$url' --wait >'$out'"
	open_producer
	echo first >&5
	wait_for 30 has_line "$out" '"status":"worked","data":"first"'
	kill -0 "$(pid_of pipe)"
	echo second >&5
	wait_for 30 has_line "$out" '"data":"second"'
	sed -n 1p "$out" | grep -q '"data":"first"'
	[ "$(jq -r .accepted_by "$out" | sort -u)" = "api-$(api_pid api)@$(hostname)" ]
	exec 5>&-
	wait_for 30 sh -c "! kill -0 $(pid_of pipe) 2>/dev/null"
	[ "$(wc -l <"$out")" = 2 ]
}

@test "through the API: several requests in flight, answers in input order" {
	api_start api
	url=$(api_url api)
	run sh -c "seq 500 | wq-submit --api '$url' --lines"
	assert_success
	[ "$(echo "$output" | jq -r .data | tr '\n' ' ')" = "$(seq 500 | tr '\n' ' ')" ]
	[ "$(rcli llen wq:queue:default)" = 500 ]
	# status without --wait: in input order too, unknown ids said
	run sh -c "{ echo 00000000000000000000000000000000; seq 300 | wq-submit --lines; } | wq-status --api '$url'"
	assert_failure 1
	assert_line --index 0 'wq-status: 00000000000000000000000000000000: not found'
	[ "$(echo "$output" | sed 1d | jq -r .data | tr '\n' ' ')" = "$(seq 300 | tr '\n' ' ')" ]
	start w1 wq-worker --jq .
	run sh -c "seq 500 | wq-submit --lines | wq-status --api '$url' --wait --timeout 120"
	assert_success
	[ "$(echo "$output" | jq -r .data | sort -n | tr '\n' ' ')" = "$(seq 500 | tr '\n' ' ')" ]
	[ "$(echo "$output" | jq -r .status | sort -u)" = worked ]
}

@test "through the API: a bad line stops the stream after the lines before it" {
	api_start api
	url=$(api_url api)
	start sub sh -c "wq-submit --api '$url' --json <'$fifo' >'$out' 2>'$BATS_TEST_TMPDIR/err'; echo \$? >'$BATS_TEST_TMPDIR/sub.rc'"
	open_producer
	printf '%s\n' '{"data":"a"}' '{"data":"b"}' 'nope' '{"data":"d"}' >&5
	wait_for 30 test -s "$BATS_TEST_TMPDIR/sub.rc"
	[ "$(rc_of sub)" = 2 ]
	grep -q '^wq-submit: input 3: malformed JSON' "$BATS_TEST_TMPDIR/err"
	run jq -r .data "$out"
	assert_output "a
b"
	[ "$(rcli llen wq:queue:default)" = 2 ]
}
