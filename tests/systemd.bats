#!/usr/bin/env bats
# systemd: the units of deploy/systemd/ as make install installs them,
# checked by systemd-analyze (verify, and security in offline mode: no
# running systemd is needed), and what they promise a drain and a job.

load helpers

UNITS="wq-worker@.service wq-api.service"

setup_file() {
	suite_dir_init
	# make install into a private root, with the build's prefix.
	make -s -C "$WQ_BUILDDIR" install DESTDIR="$WQ_SUITE_DIR/root" \
	    >"$WQ_SUITE_DIR/install.log" 2>&1 ||
	    { cat "$WQ_SUITE_DIR/install.log" >&2; return 1; }
}

teardown_file() {
	rm -rf "$WQ_SUITE_DIR"
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
