#!/usr/bin/env bats
# systemd: the units of deploy/systemd/ as make install installs them,
# checked by systemd-analyze (verify, and security in offline mode: no
# running systemd is needed), and what they promise a drain and a job;
# and the notifications of wq-worker and wq-api (Type=notify) on a
# NOTIFY_SOCKET of the test's own (tests/sd-notify.py), as systemd would
# receive them.

load helpers
load api-helpers

UNITS="wq-worker@.service wq-api.service"

setup_file() {
	suite_dir_init
	# make install into a private root, with the build's prefix.
	make -s -C "$WQ_BUILDDIR" install DESTDIR="$WQ_SUITE_DIR/root" \
	    >"$WQ_SUITE_DIR/install.log" 2>&1 ||
	    { cat "$WQ_SUITE_DIR/install.log" >&2; return 1; }
	redis_start
}

teardown_file() {
	redis_stop
}

setup() {
	redis_flush
}

teardown() {
	api_teardown
	redis_stop late
}

# notify_listen NAME [CHECK...]: a notification socket, NAME.sock in the
# suite's directory, whose datagrams go to NAME.notify; CHECK runs when
# one says READY=1 (its result follows: "check ok" or "check failed").
notify_listen() {
	local name=$1 dir
	shift
	dir=$(suite_dir)
	rm -f "$dir/$name.sock" "$dir/$name.notify"
	start "$name-listener" /usr/bin/python3 "$WQ_SRCDIR/tests/sd-notify.py" \
	    "$dir/$name.sock" "$dir/$name.notify" "$@"
	wait_for 10 test -S "$dir/$name.sock"
}

# notes NAME: what the service said, one datagram a line, in order.
notes() {
	cut -d' ' -f2- "$(suite_dir)/$1.notify" 2>/dev/null || true
}

noted() {
	notes "$1" | grep -q -- "$2"
}

# count NAME TEXT: how many datagrams said TEXT.
count() {
	notes "$1" | grep -c -- "$2" || true
}

# as_service NAME CMD...: CMD started as systemd starts a Type=notify
# service with WatchdogSec=2: NOTIFY_SOCKET, WATCHDOG_USEC, and
# WATCHDOG_PID naming the service's own process.
as_service() {
	local name=$1 sock
	shift
	sock=$(suite_dir)/$name.sock
	start "$name" sh -c 'export WATCHDOG_PID=$$ NOTIFY_SOCKET=$1 \
	    WATCHDOG_USEC=2000000; shift; exec "$@"' sh "$sock" "$@"
}

# The lines of NAME's datagrams from the first that says TEXT.
line_of() {
	notes "$1" | grep -n -- "$2" | head -1 | cut -d: -f1
}

# The directory make install put the units in, under the private root.
unitdir() {
	local d
	d=$(sed -n 's/^systemdsystemunitdir = //p' "$WQ_BUILDDIR/Makefile")
	d=${d//\$\{prefix\}/$(sed -n 's/^prefix = //p' "$WQ_BUILDDIR/Makefile")}
	echo "$(suite_dir)/root$d"
}

bindir() {
	local p
	p=$(sed -n 's/^prefix = //p' "$WQ_BUILDDIR/Makefile")
	sed -n 's/^bindir = //p' "$WQ_BUILDDIR/Makefile" |
	    sed "s|\${exec_prefix}|$p|"
}

# unit NAME: the installed unit's text.
unit() {
	cat "$(unitdir)/$1"
}

# setting NAME KEY: the values of KEY in unit NAME, one a line.
setting() {
	unit "$1" | sed -n "s/^$2=//p"
}

@test "make install installs the units, naming the installed commands" {
	for u in $UNITS; do
		[ -s "$(unitdir)/$u" ] || { echo "no $u in $(unitdir)"; return 1; }
	done
	run setting wq-worker@.service ExecStart
	assert_output "$(bindir)/wq-worker \$WQ_WORKER_ARGS"
	run setting wq-api.service ExecStart
	assert_output "$(bindir)/wq-api \$WQ_API_ARGS"
	[ -x "$(suite_dir)/root$(bindir)/wq-worker" ]
	[ -x "$(suite_dir)/root$(bindir)/wq-api" ]
	# The examples of the environment files go with the documentation.
	find "$(suite_dir)/root" -path '*/doc/wq/examples/worker.env' | grep -q .
	find "$(suite_dir)/root" -path '*/doc/wq/examples/api.env' | grep -q .
}

@test "systemd-analyze verify accepts every unit" {
	local d=$(suite_dir)/verify
	mkdir -p "$d"
	# The commands where they were installed (the private root).
	for u in $UNITS; do
		sed "s|=$(bindir)/|=$(suite_dir)/root$(bindir)/|" \
		    "$(unitdir)/$u" >"$d/$u"
	done
	run grep -h '^ExecStart=' "$d"/*.service
	assert_line --partial "=$(suite_dir)/root"
	cd "$d"
	# The man pages are checked once installed (tests/deb.bats).
	run systemd-analyze verify --man=no $UNITS
	assert_success
	assert_output ''
}

@test "a unit that systemd-analyze verify refuses fails the check" {
	local d=$(suite_dir)/bad
	mkdir -p "$d"
	sed -e "s|=$(bindir)/|=$(suite_dir)/root$(bindir)/|" \
	    -e 's/^KillMode=mixed/KillMode=sometimes/' \
	    "$(unitdir)/wq-api.service" >"$d/wq-api.service"
	cd "$d"
	run systemd-analyze verify --man=no wq-api.service
	# What the check above requires to be empty.
	assert_output --regexp 'wq-api.service:[0-9]+: Failed to parse kill mode'
}

@test "systemd-analyze security: every unit's exposure is at most 2.0" {
	for u in $UNITS; do
		run systemd-analyze security --offline=yes --threshold=20 \
		    "$(unitdir)/$u"
		echo "$output" | grep 'Overall exposure' >&3 || true
		assert_success
		assert_output --regexp 'Overall exposure level for [^ ]*: [0-1]\.[0-9] OK'
	done
}

@test "the hardening the issue names is in every unit" {
	for u in $UNITS; do
		for kv in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict \
		    ProtectHome=yes PrivateTmp=yes CapabilityBoundingSet= \
		    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
		    SystemCallFilter=@system-service KillMode=mixed \
		    KillSignal=SIGTERM; do
			unit "$u" | grep -qx -- "$kv" ||
			    { echo "$u lacks $kv"; return 1; }
		done
	done
}

@test "a stop gives the worker's drain its grace: TimeoutStopSec > --grace" {
	local grace stop
	# --grace's default, from --help (its text may span two lines).
	grace=$(wq-worker --help | sed -n '/--grace/,/(default/p' |
	    grep -o '(default [0-9]*)' | head -1 | tr -dc 0-9)
	[ -n "$grace" ]
	stop=$(setting wq-worker@.service TimeoutStopSec)
	[ -n "$stop" ]
	[ "$stop" -gt "$grace" ]
	# Nothing in the unit or the example sets another --grace.
	run grep -h -- '--grace [0-9]' "$(unitdir)/wq-worker@.service" \
	    "$WQ_SRCDIR/deploy/systemd/worker.env"
	assert_failure
}

@test "the worker template reads /etc/wq/INSTANCE.env; the API its optional file" {
	run setting wq-worker@.service EnvironmentFile
	assert_output /etc/wq/%i.env
	run setting wq-api.service EnvironmentFile
	assert_output -- -/etc/wq/api.env
	# The examples set what the units use.
	grep -q '^WQ_WORKER_ARGS=' "$WQ_SRCDIR/deploy/systemd/worker.env"
	grep -q '^WQ_REDIS=' "$WQ_SRCDIR/deploy/systemd/worker.env"
	grep -q '^WQ_API_ARGS=' "$WQ_SRCDIR/deploy/systemd/api.env"
}

@test "the units are Type=notify with a watchdog; wq-api lets its workers speak" {
	for u in $UNITS; do
		run setting "$u" Type
		assert_output notify
		run setting "$u" WatchdogSec
		assert_output --regexp '^[0-9]+$'
		# Twice the default heartbeat (1 s) at least.
		[ "$output" -ge 2 ]
	done
	run setting wq-api.service NotifyAccess
	assert_output all
	run setting wq-worker@.service NotifyAccess
	assert_output ''
}

@test "wq-worker: READY=1 only once a member, WATCHDOG=1 at heartbeats, STOPPING=1 on SIGTERM" {
	local late=$(suite_dir)/late.sock pid n t t0
	notify_listen worker sh -c "wq-peers --redis unix://$late |
	    grep -q '\"name\":\"notified\"'"
	# Redis is not there yet: the loop runs (the watchdog is fed) but the
	# node is no member, so it is not ready.
	t0=$(date +%s%3N)
	as_service worker wq-worker --redis "unix://$late" --name notified \
	    --sleep 0 --heartbeat 0.2 --quiet
	wait_for 15 sh -c "[ \$(grep -c WATCHDOG=1 $(suite_dir)/worker.notify) -ge 3 ]"
	run notes worker
	refute_output --partial READY=1
	redis_start late
	wait_for 15 noted worker READY=1
	# What was true when READY=1 came: the node was in wq-peers (the
	# check's line follows READY=1 once the check is done).
	wait_for 15 noted worker '^check '
	run notes worker
	n=$(line_of worker READY=1)
	[ "$(sed -n "$((n + 1))p" <<<"$output")" = 'check ok' ]
	assert_line --regexp '^READY=1 STATUS=a member of the cluster as notified$'
	# Heartbeats go on, each one feeds the watchdog.
	n=$(count worker WATCHDOG=1)
	wait_for 15 sh -c "[ \$(grep -c WATCHDOG=1 $(suite_dir)/worker.notify) -ge $((n + 3)) ]"
	# Paced by the heartbeat (0.2 s), not by the loop: no more pings than
	# 0.2 s fit in the time since the start (a delay only lowers it).
	n=$(count worker WATCHDOG=1)
	t=$(( $(date +%s%3N) - t0 ))
	[ "$n" -le $(( t / 190 + 1 )) ] ||
	    { echo "$n WATCHDOG=1 in $t ms"; return 1; }
	pid=$(pid_of worker)
	kill -TERM "$pid"
	wait "$pid"
	noted worker STOPPING=1
	[ "$(line_of worker READY=1)" -lt "$(line_of worker STOPPING=1)" ]
}

@test "wq-api: READY=1 once it serves as a member, WATCHDOG=1, STOPPING=1 on SIGTERM" {
	local late=$(suite_dir)/late.sock port pid n
	port=$(free_port)
	notify_listen api sh -c "wq-peers --redis unix://$late |
	    grep -q '\"role\":\"api\"' &&
	    curl -sf -o /dev/null http://127.0.0.1:$port/api/v1/ping"
	as_service api wq-api --redis "unix://$late" \
	    --listen "127.0.0.1:$port" --workers 2
	wait_for 15 curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/ping"
	wait_for 15 sh -c "[ \$(grep -c WATCHDOG=1 $(suite_dir)/api.notify) -ge 2 ]"
	run notes api
	refute_output --partial READY=1
	redis_start late
	wait_for 15 noted api READY=1
	wait_for 15 noted api '^check '
	run notes api
	n=$(line_of api READY=1)
	[ "$(sed -n "$((n + 1))p" <<<"$output")" = 'check ok' ]
	n=$(count api WATCHDOG=1)
	wait_for 15 sh -c "[ \$(grep -c WATCHDOG=1 $(suite_dir)/api.notify) -ge $((n + 2)) ]"
	pid=$(pid_of api)
	kill -TERM "$pid"
	wait "$pid"
	noted api STOPPING=1
	[ "$(line_of api READY=1)" -lt "$(line_of api STOPPING=1)" ]
	api_logs_clean
}

@test "no watchdog unless it is this process's; jobs never get the socket" {
	notify_listen n
	# WATCHDOG_PID names another process: the watchdog is not ours.
	start worker env NOTIFY_SOCKET="$(suite_dir)/n.sock" \
	    WATCHDOG_USEC=1000000 WATCHDOG_PID=1 \
	    wq-worker --exec "env >$(suite_dir)/job.env" --heartbeat 0.1 --quiet
	wait_for 15 noted n READY=1
	id=$(wq-submit env | jq -r .callback)
	run wq-status --wait --timeout 15 "$id"
	assert_output --partial '"status":"worked"'
	# Ten heartbeats' time and more (it only can be longer under load).
	sleep 1
	run notes n
	refute_output --partial WATCHDOG=1
	run grep -E '^(NOTIFY_SOCKET|WATCHDOG_USEC|WATCHDOG_PID)=' "$(suite_dir)/job.env"
	assert_failure
	grep -q "^WQ_JOB_ID=$id\$" "$(suite_dir)/job.env"
	# A NOTIFY_SOCKET that is no socket's address: said once, then work.
	start bad env NOTIFY_SOCKET=relative/path wq-worker --sleep 0 --quiet
	wait_for 10 sh -c "grep -q 'NOTIFY_SOCKET is not' $(suite_dir)/bad.log"
	wait_for 10 sh -c "grep -q 'started:' $(suite_dir)/bad.log"
}
