#!/usr/bin/env bats
# Leaks: the commands, the worker and the API under valgrind
# (--leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9),
# with every run's log required to end with "ERROR SUMMARY: 0 errors" (a
# definite leak, an invalid read or a jump on uninitialised memory all
# count); and a long run of 100,000 jobs through one native worker whose
# RSS, sampled every second, must stay flat.
#
# Sizes, for valgrind on two cores: 1,000 jobs for wq-submit, wq-status
# and the --jq worker, 100 for the --exec worker (a fork per job), 10,000
# requests for the API.
#
# The API is Kore: wq-api execs kore, kore forks its workers.  Rather than
# --trace-children through wq-api and stdbuf, WQ_KORE points wq-api at a
# script that runs kore itself under valgrind (forks are followed
# anyway).  Kore's seccomp sandbox kills what valgrind does on its own in
# a worker (gettid, tgkill, rt_sigtimedwait, and W+X mmap/mprotect for its
# translations), so the script also loads, before wq-api.so, a module made
# for the test whose only content is a seccomp filter allowing those; the
# module's own sandbox is unchanged.  Two things of Kore's own are
# suppressed: the worker's seccomp program, allocated once and kept, and
# the padding bytes of its worker-to-parent messages.  (LeakSanitizer
# would need ptrace inside the sandbox, which a filter cannot grant it
# without giving it to everything.)

load helpers
load api-helpers

VG_OPTS="--leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9"

setup_file() {
	redis_start
	cat >"$(suite_dir)/kore.supp" <<'EOF'
{
   kore's seccomp program, allocated once per worker and kept
   Memcheck:Leak
   match-leak-kinds: definite
   fun:calloc
   fun:kore_seccomp_enable
}
{
   the padding of kore's messages between processes
   Memcheck:Param
   socketcall.sendto(msg)
   fun:send
   fun:net_write
   ...
   fun:kore_msg_send
}
EOF
}
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { api_teardown; }

# vg NAME CMD...: CMD under valgrind, its report in vg-NAME.PID.log.
# For start, which must see valgrind's own PID: start X "${VG[@]}" CMD...
# after vg_argv NAME.
vg_argv() {
	# shellcheck disable=SC2206
	VG=(valgrind $VG_OPTS "--log-file=$(suite_dir)/vg-$1.%p.log")
}
vg() {
	local VG
	vg_argv "$1"
	shift
	"${VG[@]}" "$@"
}

# vg_clean NAME: every report of NAME has no error, and there is one.
vg_clean() {
	local f n=0 bad=0
	for f in "$(suite_dir)"/vg-"$1".*.log; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		if ! grep -q 'ERROR SUMMARY: 0 errors' "$f"; then
			cat "$f"
			bad=1
		fi
	done
	[ "$n" -gt 0 ] || { echo "no valgrind report for $1"; return 1; }
	return $bad
}

# SIGTERM to a process start() started: it must exit 0 (else its log).
term_exits_0() {
	local pid status=0
	pid=$(pid_of "$1")
	kill -TERM "$pid"
	wait "$pid" || status=$?
	[ "$status" = 0 ] || { log_of "$1"; false; }
}

# ended: the jobs worked and failed so far.
ended() {
	echo $(( $(stat_of worked) + $(stat_of failed) ))
}

@test "wq-submit and wq-status under valgrind: 1,000 jobs, every exit" {
	ids="$(suite_dir)/ids"
	seq 1000 | vg submit wq-submit --lines >"$ids"
	[ "$(wc -l <"$ids")" = 1000 ]
	run vg submit-dup wq-submit 1 2 3
	assert_success
	assert_output --partial '"duplicate":true'
	run vg submit-json wq-submit --json <<<'{"data":1,"key":"k","timeout":5}'
	assert_success
	# --key over the object's own key
	run vg submit-key wq-submit --json --key k2 <<<'{"data":1,"key":"k"}'
	assert_success
	# bad input, whatever is wrong with it, leaves nothing behind either
	run vg submit-bad wq-submit --json <<<'{"data":1}
{"data":1,"x" "leaked by jq 1.6 once"}'
	assert_failure 2
	run vg submit-big wq-submit --max-data 10 "$(seq 100)"
	assert_failure 2
	run vg submit-down wq-submit --redis unix:///nonexistent.sock x
	assert_failure 3
	# a stream that stops at a bad line; the same read whole first
	run vg submit-stream-bad wq-submit --json <<<'{"data":"s1"}
{"data":'
	assert_failure 2
	run vg submit-all wq-submit --all-or-nothing --lines <<<"all1
all2"
	assert_success

	run vg status wq-status <"$ids"
	assert_success
	[ "${#lines[@]}" = 1000 ]
	run vg status-jq wq-status --jq 'select(.data == "7") | .status' <"$ids"
	assert_output '"pending"'
	run vg status-list wq-status --list pending --limit 2000
	[ "${#lines[@]}" = 1005 ]	# and the --json, --key, stream and all-or-nothing jobs
	run vg status-unknown wq-status 0123456789ABCDEF0123456789ABCDEF
	assert_failure 1
	run vg status-bad wq-status nothex
	assert_failure 2
	run vg status-badjq wq-status --jq '.[' ACBD18DB4CC2F85CEDEF654FCCC4A4D8
	assert_failure 2
	run vg status-down wq-status --redis unix:///nonexistent.sock ACBD18DB4CC2F85CEDEF654FCCC4A4D8
	assert_failure 3

	# --wait: subscribed to the jobs' ends while a worker takes them
	start worker wq-worker --jq . --quiet
	run vg status-wait wq-status --wait --timeout 600 <"$ids"
	assert_success
	[ "${#lines[@]}" = 1000 ]
	run vg status-wait-timeout wq-status --wait --timeout 0.2 0123456789ABCDEF0123456789ABCDEF
	assert_failure 1
	run vg status-wait-bad wq-status --wait --timeout 60 <<<"$(head -5 "$ids")
nothex"
	assert_failure 2
	run vg peers wq-peers --all
	assert_success
	run vg send wq-send --all ping
	assert_success
	assert_output --partial '"type":"pong"'
	for n in submit submit-dup submit-json submit-key submit-bad submit-big submit-down \
	    submit-stream-bad submit-all status status-jq status-list \
	    status-unknown status-bad status-badjq status-down status-wait \
	    status-wait-timeout status-wait-bad peers send; do
		vg_clean "$n"
	done
}

@test "wq-submit and wq-status --api under valgrind: requests in flight, every exit" {
	api_start api
	url=$(api_url api)
	ids="$(suite_dir)/api-ids"
	seq 300 | vg submit-api wq-submit --api "$url" --lines >"$ids"
	[ "$(wc -l <"$ids")" = 300 ]
	run vg submit-api-bad wq-submit --api "$url" --json <<<'{"data":1}
nope'
	assert_failure 2
	run vg submit-api-down wq-submit --api "http://127.0.0.1:$(free_port)" x
	assert_failure 3
	run vg status-api wq-status --api "$url" --jq .status <"$ids"
	[ "${#lines[@]}" = 300 ]
	start worker wq-worker --jq . --quiet
	run vg status-api-wait wq-status --api "$url" --wait --timeout 60 <"$ids"
	assert_success
	[ "${#lines[@]}" = 300 ]
	run vg status-api-unknown wq-status --api "$url" --wait 0123456789ABCDEF0123456789ABCDEF
	assert_failure 1
	for n in submit-api submit-api-bad submit-api-down status-api \
	    status-api-wait status-api-unknown; do
		vg_clean "$n"
	done
}

@test "wq-worker --jq under valgrind: 1,000 jobs, failures, messages, SIGTERM exits 0 clean" {
	{ seq 990; for i in $(seq 10); do echo "word$i"; done; } | wq-submit --lines >/dev/null
	vg_argv worker
	start worker "${VG[@]}" wq-worker --jq 'tonumber' --max-attempts 1 --name vgworker
	wait_for 120 sh -c "wq-peers | grep -q vgworker"
	# messages while it works: inbox decoding, replies
	for t in ping info; do
		run wq-send --timeout 60 vgworker "$t"
		assert_success
	done
	wait_count 1000 60 ended
	[ "$(rcli get wq:stats:worked)" = 990 ]
	[ "$(rcli get wq:stats:failed)" = 10 ]
	term_exits_0 worker
	vg_clean worker
	grep -q 'definitely lost: 0 bytes\|no leaks are possible' "$(suite_dir)"/vg-worker.*.log
}

@test "wq-worker --exec under valgrind: 100 jobs at 5 at once, failures and timeouts" {
	# "sleep" jobs outlive --timeout, "fail" jobs exit 1, the rest echo
	{ seq 90; for i in $(seq 5); do echo "fail$i"; echo "sleep$i"; done; } |
		wq-submit --lines >/dev/null
	vg_argv worker-exec
	# (a job's child only sets up its pipes and execs sh: not reported)
	# (--timeout 10: time enough for the others on a busy machine; the
	# sleeps outlive it by far.  5 at once: the five sleeps time out
	# together, where 4 slots made the fifth wait 10 s for one.)
	start worker "${VG[@]}" --child-silent-after-fork=yes wq-worker --concurrency 5 --timeout 10 \
		--max-attempts 1 --quiet \
		--exec 'read -r x; case $x in fail*) exit 1;; sleep*) sleep 300;; esac; echo "$x"'
	wait_count 100 60 ended
	[ "$(rcli get wq:stats:worked)" = 90 ]
	[ "$(rcli get wq:stats:failed)" = 10 ]
	for i in $(seq 5); do
		[ "$(rcli hget "wq:job:$(md5id "sleep$i")" e)" = "timed out after 10 s" ]
		[ "$(rcli hget "wq:job:$(md5id "fail$i")" e)" = "exit status 1" ]
	done
	term_exits_0 worker
	vg_clean worker-exec
}

@test "wq-api under valgrind: kore's parent and workers serve 10,000 requests clean" {
	d=$(suite_dir)
	# The test's module: a seccomp filter for valgrind's own system calls.
	cat >"$d/vgsandbox.c" <<'EOF'
#include <kore/kore.h>
#include <kore/seccomp.h>

static struct sock_filter vg_filter[] = {
	KORE_SYSCALL_ALLOW(gettid),
	KORE_SYSCALL_ALLOW(tgkill),
	KORE_SYSCALL_ALLOW(rt_sigtimedwait),
	KORE_SYSCALL_ALLOW(mmap),
	KORE_SYSCALL_ALLOW(mprotect),
};

__attribute__((constructor)) static void
vg_sandbox(void)
{
	kore_seccomp_filter("valgrind", vg_filter, KORE_FILTER_LEN(vg_filter));
}
EOF
	cc -shared -fPIC -I/usr/share/kore/include $(cat /usr/share/kore/features) \
		-o "$d/vgsandbox.so" "$d/vgsandbox.c"
	cat >"$d/kore-vg" <<EOF
#!/bin/sh
# kore under valgrind, the test's module loaded before wq-api's
for a; do conf=\$a; done
sed -i 's|^load |load $d/vgsandbox.so\nload |' "\$conf"
exec valgrind $VG_OPTS --suppressions=$d/kore.supp \\
	--log-file=$d/vg-api.%p.log $(command -v kore) "\$@"
EOF
	chmod +x "$d/kore-vg"
	port=$(free_port)
	start api env WQ_KORE="$d/kore-vg" wq-api --listen "127.0.0.1:$port" \
		--workers 2 --max-body 4096 --max-data 1000
	wait_for 180 curl -s -o /dev/null "http://127.0.0.1:$port/healthz"
	# a worker to take the jobs, so that records change state under reads
	start worker wq-worker --jq . --quiet
	run curl -H 'Content-Type: application/json' -s -d '{"data":"foo"}' "http://127.0.0.1:$port/api/v1/work"
	assert_output --partial '"callback":"ACBD18DB4CC2F85CEDEF654FCCC4A4D8"'
	run python3 - "$port" 10000 8 <<'PY'
# N requests on C keep-alive connections, every route and refusal; then
# clients that leave while their request waits for a job.
import http.client, json, socket, sys, threading, time
port, n, conns = (int(a) for a in sys.argv[1:4])
ID = "ACBD18DB4CC2F85CEDEF654FCCC4A4D8"
def kind(i):
    k = i % 16
    return [
        ("POST", "/api/v1/work", json.dumps({"data": "job-%d" % i}), 200),
        ("POST", "/api/v1/work", '{"data":"foo"}', 200),
        ("POST", "/api/v1/work", '{"data":1,"x" "' + "y" * 2000 + '"}', 400),
        ("POST", "/api/v1/work", '{"data":"' + "z" * 3000 + '"}', 413),
        ("POST", "/api/v1/work", '{"data":"\xff"}', 400),
        ("POST", "/api/v1/work", "x" * 5000, 413),
        ("GET", "/api/v1/work/" + ID, None, 200),
        ("GET", "/api/v1/work/" + ID + "?wait=0", None, 200),
        ("GET", "/api/v1/work/0123456789ABCDEF0123456789ABCDEF", None, 404),
        ("GET", "/healthz", None, 200),
        ("GET", "/metrics", None, 200),
        ("GET", "/api/v1/queues", None, 200),
        ("GET", "/api/v1/peers?all=1", None, 200),
        ("GET", "/api/v1/recent?limit=5", None, 200),
        ("PUT", "/api/v1/work", "{}", 405),
        ("GET", "/nope", None, 404),
    ][k]
bad = []
def client(j):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in range(j, n, conns):
        m, p, b, want = kind(i)
        c.request(m, p, body=b, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != want:
            bad.append("%s %s: %d, not %d" % (m, p, r.status, want))
t = time.time()
ts = [threading.Thread(target=client, args=(j,)) for j in range(conns)]
for x in ts: x.start()
for x in ts: x.join()
for i in range(50):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /api/v1/work/0123456789ABCDEF0123456789ABCDEF?wait=5 "
              b"HTTP/1.1\r\nHost: localhost\r\n\r\n")
    s.close()
print("%d requests in %.1f s, %d unexpected" % (n, time.time() - t, len(bad)))
print("\n".join(bad[:10]))
sys.exit(1 if bad else 0)
PY
	echo "$output"
	assert_success
	echo "# wq-api under valgrind (2 workers): ${lines[0]}" >&3
	run curl -s "http://127.0.0.1:$port/healthz"
	assert_output --partial '"status":"ok"'
	term_exits_0 api
	# the parent and both workers, none restarted on the way
	[ "$(ls "$d"/vg-api.*.log | wc -l)" = 3 ]
	vg_clean api
	grep -c 'definitely lost: 0 bytes\|no leaks are possible' "$d"/vg-api.*.log
}

@test "100,000 jobs through one worker: its RSS stays flat" {
	python3 -c '
import sys
for i in range(100000):
    sys.stdout.write("job %06d %s\n" % (i, "x" * 200))' | wq-submit --lines >/dev/null
	[ "$(rcli llen wq:queue:default)" = 100000 ]
	# --batch 1: a claim and a completion per job, the most calls per job
	start worker wq-worker --jq '{len: length, n: .[4:10]}' --batch 1 --quiet
	pid=$(pid_of worker)
	samples="$(suite_dir)/rss"
	: >"$samples"
	# a sample a second, as long as the jobs take (but not a minute
	# without one done)
	last=-1
	since=$(now_ms)
	while :; do
		done_jobs=$(stat_of worked)
		echo "$done_jobs $(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")" >>"$samples"
		[ "$done_jobs" -ge 100000 ] && break
		if [ "$done_jobs" != "$last" ]; then
			last=$done_jobs
			since=$(now_ms)
		fi
		[ $(( $(now_ms) - since )) -lt 60000 ] ||
			{ echo "stuck at $done_jobs jobs for 60 s" >&2; false; }
		sleep 1
	done
	[ "$(stat_of worked)" = 100000 ]
	cat "$samples"
	# after a warm-up of 10,000 jobs
	warm=$(awk '$1 >= 10000 { print $2; exit }' "$samples")
	last=$(tail -1 "$samples" | cut -d' ' -f2)
	first=$(head -1 "$samples" | cut -d' ' -f2)
	n=$(wc -l <"$samples")
	echo "# 100,000 jobs, $n RSS samples: start ${first} kB, after 10,000 jobs ${warm} kB, end ${last} kB" >&3
	[ -n "$warm" ]
	[ "$last" -le $((warm + 2048)) ]
	term_exits_0 worker
}
