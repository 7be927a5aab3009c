#!/usr/bin/env bats
# deb: the Debian package, built by dpkg-buildpackage from a clean copy of
# the tree (the files git knows, as they are now: no configure, no
# objects), checked by lintian, installed into this machine with dpkg,
# used from the installed paths only (commands, man pages, completion,
# the API's Kore module, the units), then purged.
#
# It needs root (or sudo) for dpkg.  A wq package that this suite did not
# install is never replaced: the suite fails instead.  Two runs of the
# suite at once (two checkouts on one machine) take turns on a lock.

load helpers
load api-helpers

LOCK=${TMPDIR:-/tmp}/wq-deb-test.lock
MARK=${TMPDIR:-/tmp}/wq-deb-test.installed

sudo_() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# dpkg, waiting while another dpkg or apt holds its lock.
dpkg_() {
	local i out
	for i in $(seq 60); do
		if out=$(sudo_ dpkg "$@" 2>&1); then
			printf '%s\n' "$out"
			return 0
		fi
		grep -q 'lock' <<<"$out" || break
		sleep 2
	done
	printf '%s\n' "$out" >&2
	return 1
}

installed() {
	dpkg-query -W -f='${Status}' wq 2>/dev/null | grep -q 'ok installed'
}

purge() {
	if installed || dpkg-query -W wq >/dev/null 2>&1; then
		dpkg_ --purge wq >/dev/null
	fi
	rm -f "$MARK"
}

setup_file() {
	suite_dir_init
	# Held until the suite ends (the tests inherit the descriptor).
	exec {WQ_DEB_LOCK}>"$LOCK"
	flock -w 1200 "$WQ_DEB_LOCK"
	if installed && [ ! -e "$MARK" ]; then
		echo "a wq package is installed on this machine that tests/deb.bats" \
		    "did not install: not replacing it" >&2
		return 1
	fi
	purge				# what an interrupted run left
	redis_start
}

teardown_file() {
	purge
	redis_stop
}

teardown() { api_teardown; }

DEB_DIR() { echo "$(suite_dir)/build"; }

the_deb() {
	ls "$(DEB_DIR)"/wq_*_"$(dpkg --print-architecture)".deb
}

@test "dpkg-buildpackage -us -uc -b builds wq from a clean copy of the tree" {
	local src=$(DEB_DIR)/src
	mkdir -p "$src"
	# The files git tracks or would track, as they are in the work tree.
	(cd "$WQ_SRCDIR" && git ls-files -z --cached --others --exclude-standard |
	    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	    tar --null -T - -cf -) | tar -xf - -C "$src"
	[ -f "$src/debian/rules" ]
	[ ! -e "$src/configure" ]
	[ ! -e "$src/Makefile" ]
	run bash -c "cd '$src' && DEB_BUILD_OPTIONS='nocheck noddebs parallel=$(nproc)' \
	    dpkg-buildpackage -us -uc -b >'$(DEB_DIR)/build.log' 2>&1"
	[ "$status" -eq 0 ] || { tail -40 "$(DEB_DIR)/build.log"; return 1; }
	run the_deb
	assert_success
	# The version is configure.ac's.
	v=$(sed -n 's/^AC_INIT(\[wq\], \[\([^]]*\)\].*/\1/p' "$WQ_SRCDIR/configure.ac")
	[ -n "$v" ]
	assert_output --partial "/wq_${v}_"
}

@test "the package's Depends are computed by dpkg-shlibdeps, plus kore" {
	run dpkg-deb -f "$(the_deb)" Depends
	assert_success
	for lib in libc6 libhiredis0.14 libjq1 libcurl4 kore; do
		assert_output --regexp "(^|, )$lib( |,|$)"
	done
	# Everything the package ships, where Debian 12 looks for it.
	run dpkg-deb -c "$(the_deb)"
	for f in usr/bin/wq-submit usr/bin/wq-worker usr/bin/wq-api \
	    usr/bin/wq-cluster "usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/wq/wq-api.so" \
	    usr/share/man/man1/wq-submit.1.gz usr/share/man/man7/wq.7.gz \
	    usr/share/bash-completion/completions/wq-submit \
	    usr/share/zsh/vendor-completions/_wq \
	    lib/systemd/system/wq-worker@.service lib/systemd/system/wq-api.service \
	    usr/share/doc/wq/examples/worker.env usr/share/doc/wq/copyright \
	    usr/share/doc/wq/openapi.json; do
		assert_output --partial " ./$f"
	done
}

@test "lintian: no tag but the overridden ones, and each override explained" {
	cd "$(DEB_DIR)"
	run lintian --pedantic --display-info --display-experimental \
	    wq_*.changes
	echo "$output"
	# Its complaint about running as root is not a tag.
	if grep -E '^[EWIPX]: ' <<<"$output"; then return 1; fi
	# Every override has a comment right above it that says why.
	run awk '/^#/ { c = 1; next } /^[^[:space:]]/ && !c { print; bad = 1 }
	    { c = 0 } END { exit bad }' "$WQ_SRCDIR/debian/wq.lintian-overrides"
	assert_success
}

@test "installed with dpkg: the commands, the man pages, bash completion" {
	dpkg_ -i "$(the_deb)"
	touch "$MARK"
	installed
	run /usr/bin/wq-submit --version
	assert_success
	assert_output --partial "$(wq-submit --version)"
	run man -w wq-submit
	assert_success
	assert_output /usr/share/man/man1/wq-submit.1.gz
	run man -w 7 wq
	assert_output /usr/share/man/man7/wq.7.gz
	# bash-completion loads the installed completion by the command's name.
	run bash -c '
		source /usr/share/bash-completion/bash_completion
		__load_completion wq-submit || exit 1
		f=$(complete -p wq-submit | sed "s/.*-F \([^ ]*\) .*/\1/")
		COMP_WORDS=(wq-submit --li); COMP_CWORD=1
		COMP_LINE="wq-submit --li"; COMP_POINT=${#COMP_LINE}
		"$f" wq-submit --li wq-submit
		printf "%s\n" "${COMPREPLY[@]}"'
	assert_success
	assert_line --regexp '^--lines ?$'
	# zsh finds _wq on its default path.
	run zsh -fc 'print -l $fpath'
	assert_line /usr/share/zsh/vendor-completions
}

@test "installed: a job end to end, through the installed API and worker" {
	installed
	local port id
	port=$(free_port)
	# Nothing of the build tree: not its commands, not its module.
	start api env -u WQ_API_MODULE PATH=/usr/bin:/bin \
	    /usr/bin/wq-api --listen "127.0.0.1:$port" --workers 1
	wait_for 15 curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"
	start worker env PATH=/usr/bin:/bin \
	    /usr/bin/wq-worker --exec 'tr a-z A-Z' --quiet
	run curl -H 'Content-Type: application/json' -s -XPOST -d '{"data":"hello from the package"}' \
	    "http://127.0.0.1:$port/api/v1/work"
	assert_success
	id=$(jq -r .callback <<<"$output")
	[ "$id" = "$(md5id 'hello from the package')" ]
	run env PATH=/usr/bin:/bin /usr/bin/wq-status --wait --timeout 20 "$id"
	assert_success
	assert_output --partial '"result":"HELLO FROM THE PACKAGE"'
	# The module kore loaded is the package's.
	grep -q " /usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/wq/wq-api.so\$" \
	    "/proc/$(pid_of api)/maps"
}

@test "installed: systemd-analyze verify accepts the installed units" {
	installed
	run systemd-analyze verify /lib/systemd/system/wq-api.service \
	    /lib/systemd/system/wq-worker@.service
	assert_success
	assert_output ''
	# Not enabled, not started by the installation.
	[ ! -e /etc/systemd/system/multi-user.target.wants/wq-api.service ]
}

@test "dpkg --purge removes every file it installed" {
	installed
	files=$(dpkg -L wq | while read -r f; do [ -f "$f" ] && echo "$f"; done)
	[ -n "$files" ]
	purge
	run installed
	assert_failure
	for f in $files; do
		[ ! -e "$f" ] || { echo "left behind: $f"; return 1; }
	done
}
