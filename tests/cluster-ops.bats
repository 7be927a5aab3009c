#!/usr/bin/env bats
# wq-cluster: a whole cluster on one machine.  Each test runs its own
# cluster in a run directory under the suite's directory and takes it
# down in teardown, so nothing outlives the test.

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() {
	redis_flush
	C="$(suite_dir)/c$BATS_TEST_NUMBER"
}
teardown() {
	local left
	wq-cluster down --dir "$C" 2>/dev/null || true
	stop_started
	# Whatever still talks to this cluster's Redis was not stopped by
	# down: kill it, and fail the test.
	left=$(leftovers)
	if [ -n "$left" ]; then
		kill $left 2>/dev/null || true
		echo "left running after down: $left" >&2
		return 1
	fi
	if redis-cli -s "$C/redis.sock" ping >/dev/null 2>&1; then
		redis-cli -s "$C/redis.sock" shutdown nosave >/dev/null 2>&1 || true
		echo "redis-server left running after down" >&2
		return 1
	fi
	left=$(rc_leftovers)
	if [ -n "$left" ]; then
		kill $left 2>/dev/null || true
		echo "Redis Cluster nodes left running after down: $left" >&2
		return 1
	fi
}

# leftovers: the processes whose WQ_REDIS is this test's cluster (its
# redis-server, or the Redis Cluster up --redis-cluster made).
leftovers() {
	local p url="unix://$C/redis.sock"
	[ -f "$C/redis-1.port" ] && url=$(rc_url)
	for p in /proc/[0-9]*; do
		grep -qzx "WQ_REDIS=$url" "$p/environ" 2>/dev/null &&
			echo "${p#/proc/}"
	done
	return 0
}

# rc_url: the WQ_REDIS of a cluster of --redis-cluster: its first three
# nodes.
rc_url() {
	echo "redis-cluster://127.0.0.1:$(cat "$C/redis-1.port"),127.0.0.1:$(cat "$C/redis-2.port"),127.0.0.1:$(cat "$C/redis-3.port")"
}

# rc_leftovers: the pids of the Redis Cluster nodes of this test that
# still run (on a node's port, a redis-server whose directory is that
# node's: not another that took the port since).
rc_leftovers() {
	local f p
	for f in "$C"/redis-[0-9]*.port; do
		[ -f "$f" ] || continue
		p=$(cat "$f")
		[ "$(redis-cli -p "$p" config get dir 2>/dev/null | tail -1)" = "${f%.port}" ] &&
			redis-cli -p "$p" info server | sed -n "s/^process_id:\([0-9]*\).*/\1/p"
	done
	return 0
}

# gone PID: the process has exited (a zombie waiting to be reaped counts,
# and so does one reaped between the two looks).
gone() {
	[ ! -e "/proc/$1" ] || grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null ||
	    [ ! -e "/proc/$1" ]
}

running() { ! gone "$1"; }

# field NAME KEY: KEY of the status line of NAME.
field() {
	wq-cluster status --dir "$C" | jq -r --arg n "$1" "select(.name==\$n).$2"
}

members() {
	WQ_REDIS="unix://$C/redis.sock" wq-peers | jq -r .name | sort
}

listening() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

@test "up starts redis and the workers, prints the exports, and the cluster works" {
	run wq-cluster up --dir "$C" --workers 2 --sleep 0
	assert_success
	assert_output --partial "export WQ_REDIS=unix://$C/redis.sock"
	assert_output --partial "wq-cluster: up in $C: redis on 127.0.0.1:"
	[ -S "$C/redis.sock" ]
	[ "$(redis-cli -s "$C/redis.sock" config get appendonly | tail -1)" = yes ]
	[ "$(redis-cli -s "$C/redis.sock" config get bind | tail -1)" = 127.0.0.1 ]
	run wq-cluster status --dir "$C"
	assert_success
	[ "$(echo "$output" | jq -s 'map(select(.alive)) | length')" = 3 ]
	[ "$(echo "$output" | jq -r 'select(.role=="worker") | .name' | tr '\n' ' ')" = "worker-1 worker-2 " ]
	[ "$(members | wc -l)" = 2 ]
	# the node names status reports are the members the cluster sees
	[ "$(wq-cluster status --dir "$C" | jq -r 'select(.role=="worker") | .node' | sort)" = "$(members)" ]
	eval "$(wq-cluster env --dir "$C")"
	run sh -c 'wq-submit a b c | wq-status --wait --timeout 20 --jq .status'
	assert_success
	assert_output "$(printf '"worked"\n"worked"\n"worked"')"
}

@test "up twice starts nothing new and answers the same" {
	wq-cluster up --dir "$C" --workers 2 >"$C.1" 2>/dev/null
	before=$(wq-cluster status --dir "$C" | jq -c '{name,pid}')
	run wq-cluster up --dir "$C"
	assert_success
	assert_output --partial "2 worker(s)"
	[ "$(grep ^export "$C.1")" = "$(echo "$output" | grep ^export)" ]
	[ "$(wq-cluster status --dir "$C" | jq -c '{name,pid}')" = "$before" ]
	run wq-cluster up --dir "$C" --workers 2
	assert_success
	[ "$(wq-cluster status --dir "$C" | jq -c '{name,pid}')" = "$before" ]
	[ "$(members | wc -l)" = 2 ]
}

@test "up restarts what died, and only that" {
	wq-cluster up --dir "$C" --workers 2 2>/dev/null
	w1=$(field worker-1 pid)
	w2=$(field worker-2 pid)
	kill -9 "$w2"
	wait_for 20 gone "$w2"
	run wq-cluster status --dir "$C"
	assert_failure 1
	assert_output --partial '"name":"worker-2","role":"worker","pid":'"$w2"',"alive":false'
	run wq-cluster up --dir "$C"
	assert_success
	[ "$(field worker-1 pid)" = "$w1" ]
	[ "$(field worker-2 pid)" != "$w2" ]
	run wq-cluster status --dir "$C"
	assert_success
}

@test "scale starts and stops workers, and the stopped ones leave the cluster" {
	wq-cluster up --dir "$C" --workers 1 2>/dev/null
	run wq-cluster scale worker=3 --dir "$C"
	assert_success
	assert_output --partial "scaled $C: 3 worker(s)"
	[ "$(wq-cluster status --dir "$C" | jq -s 'map(select(.role=="worker" and .alive)) | length')" = 3 ]
	[ "$(members | wc -l)" = 3 ]
	w3=$(field worker-3 pid)
	run wq-cluster scale worker=1 --dir "$C"
	assert_success
	gone "$w3"
	[ "$(wq-cluster status --dir "$C" | jq -r .name | tr '\n' ' ')" = "redis worker-1 " ]
	[ "$(members)" = "$(field worker-1 node)" ]
	run wq-cluster scale worker=0 --dir "$C"
	assert_success
	[ -z "$(members)" ]
}

@test "the work of the last up is kept for scale and up" {
	wq-cluster up --dir "$C" --workers 1 --exec 'tr a-z A-Z' 2>/dev/null
	wq-cluster scale worker=2 --dir "$C" 2>/dev/null
	tr '\0' ' ' <"/proc/$(field worker-2 pid)/cmdline" | grep -q -- '--exec tr a-z A-Z'
	wq-cluster up --dir "$C" --concurrency 2 2>/dev/null
	wq-cluster scale worker=3 --dir "$C" 2>/dev/null
	tr '\0' ' ' <"/proc/$(field worker-3 pid)/cmdline" | grep -q -- '--exec tr a-z A-Z --concurrency 2'
	eval "$(wq-cluster env --dir "$C")"
	run sh -c 'wq-submit hello | wq-status --wait --timeout 20 --jq .result'
	assert_output '"HELLO"'
}

@test "logs shows one log, all of them, and refuses an unknown name" {
	wq-cluster up --dir "$C" --workers 2 2>/dev/null
	run wq-cluster logs worker-1 --dir "$C"
	assert_success
	assert_output --partial "$(field worker-1 node) start:"
	refute_output --partial "$(field worker-2 node)"
	run wq-cluster logs --dir "$C"
	assert_success
	assert_output --partial "==> $C/logs/redis.log <=="
	assert_output --partial "==> $C/logs/worker-2.log <=="
	run wq-cluster logs worker-9 --dir "$C"
	assert_failure 1
	assert_output "wq-cluster: no log named worker-9 in $C/logs"
}

# down_stops N PIDS: the N processes PIDS run; down stops them and
# returns only once all of them are gone.
down_stops() {
	[ "$(echo "$2" | wc -l)" = "$1" ]
	for p in $2; do running "$p"; done
	run wq-cluster down --dir "$C"
	assert_success
	assert_output "wq-cluster: down: $C"
	for p in $2; do gone "$p"; done
}

@test "down stops everything it started, waits, and leaves no process behind" {
	wq-cluster up --dir "$C" --workers 3 2>/dev/null
	down_stops 4 "$(wq-cluster status --dir "$C" | jq -r .pid)"
	[ ! -S "$C/redis.sock" ]
	[ -z "$(ls "$C"/*.pid 2>/dev/null)" ]
	# the workers said goodbye before Redis went away
	grep -q 'exit: ' "$C/logs/worker-1.log"
	run wq-cluster status --dir "$C"
	assert_failure 1
	assert_output --partial '"name":"redis","role":"redis","pid":0,"alive":false'
	run wq-cluster env --dir "$C"
	assert_failure 1
	assert_output "wq-cluster: no cluster runs in $C"
	run wq-cluster down --dir "$C"
	assert_success
	run wq-cluster down --dir "$C/never"
	assert_success
}

@test "down never signals a process it did not start, even under a reused pid" {
	wq-cluster up --dir "$C" --workers 1 2>/dev/null
	start stranger sleep 60
	echo "$(pid_of stranger)" >"$C/worker-2.pid"
	echo 1 >"$C/worker-2.start"
	run wq-cluster down --dir "$C"
	assert_success
	running "$(pid_of stranger)"
	[ ! -f "$C/worker-2.pid" ]
}

@test "queued work survives down and up (AOF)" {
	wq-cluster up --dir "$C" --workers 0 2>/dev/null
	[ -z "$(members)" ]
	ids=$(WQ_REDIS="unix://$C/redis.sock" wq-submit x y z | jq -r .callback)
	wq-cluster down --dir "$C" 2>/dev/null
	ls "$C"/appendonlydir/*.aof
	wq-cluster up --dir "$C" --workers 1 --sleep 0 2>/dev/null
	run env WQ_REDIS="unix://$C/redis.sock" wq-status --wait --timeout 20 --jq .status $ids
	assert_success
	assert_output "$(printf '"worked"\n"worked"\n"worked"')"
}

@test "a taken --port is a clear error, exit 3, and starts nothing" {
	p=$(free_port)
	start busy python3 -c "import socket,time
s=socket.socket(); s.bind(('127.0.0.1',$p)); s.listen(); time.sleep(60)"
	wait_for 20 listening "$p"
	run wq-cluster up --dir "$C" --port "$p"
	assert_failure 3
	assert_output "wq-cluster: port $p is taken (choose another with --port)"
	[ ! -e "$C/redis.pid" ]
	[ ! -e "$C/worker-1.pid" ]
	# without --port it takes a free one
	run wq-cluster up --dir "$C" --workers 1
	assert_success
	[ "$(field redis tcp)" != "127.0.0.1:$p" ]
}

@test "a port taken after it was picked: up picks another, not --port" {
	# the first port up would pick, bound but not listening: it looks free
	# to the check and redis-server cannot listen on it
	p=16379
	while listening "$p"; do p=$(( p + 1 )); done
	start bound python3 -c "import socket,time
s=socket.socket(); s.bind(('127.0.0.1',$p)); print('bound', flush=True)
time.sleep(60)"
	wait_for 20 grep -q bound "$(suite_dir)/bound.log"
	run wq-cluster up --dir "$C" --workers 0
	assert_success
	[ "$(field redis tcp)" != "127.0.0.1:$p" ]
	grep -q "Failed listening on port $p" "$C/logs/redis.log"
	wq-cluster down --dir "$C" 2>/dev/null
	# a port the user gave is not swapped for another
	run wq-cluster up --dir "$C" --workers 0 --port "$p"
	assert_failure 3
	assert_output --partial "Failed listening on port $p"
}

@test "a missing program is a clear error, exit 3, and starts nothing" {
	bin="$(suite_dir)/bin$BATS_TEST_NUMBER"
	mkdir -p "$bin"
	cp "$WQ_SRCDIR/cmd/wq-cluster" "$bin/"
	run env PATH="$bin:/usr/bin:/bin" "$bin/wq-cluster" up --dir "$C"
	assert_failure 3
	assert_output "wq-cluster: wq-worker not found: build wq first (make)"
	[ ! -e "$C/redis.pid" ]
	# every program of /usr/bin but redis-server
	mkdir -p "$bin/usr"
	cp -s /usr/bin/* "$bin/usr/" 2>/dev/null || true
	rm -f "$bin/usr/redis-server"
	run env PATH="$bin:$bin/usr" "$bin/wq-cluster" up --dir "$C" --workers 0
	assert_failure 3
	assert_output "wq-cluster: redis-server not found: install the Debian package redis-server"
	[ ! -e "$C/redis.pid" ]
}

@test "a worker that cannot start makes up fail with its error" {
	run wq-cluster up --dir "$C" --workers 1 --jq '.['
	assert_failure 3
	assert_output --regexp "^wq-cluster: worker-1 exited at once: wq-worker: .* \(see $C/logs/worker-1.log\)$"
}

@test "usage errors exit 2; scale and env without a cluster exit 1" {
	run wq-cluster
	assert_failure 2
	run wq-cluster frob
	assert_failure 2
	assert_output "wq-cluster: unknown command 'frob' (try --help)"
	run wq-cluster up --dir "$C" --workers x
	assert_failure 2
	assert_output "wq-cluster: bad --workers: a number"
	run wq-cluster up --dir "$C" --lb --api 0
	assert_failure 2
	assert_output "wq-cluster: --lb needs --api 1 or more"
	run wq-cluster up --dir "$C" --port 70000
	assert_failure 2
	run wq-cluster up --dir "$C" worker=2
	assert_failure 2
	run wq-cluster scale worker=2 --dir "$C"
	assert_failure 1
	assert_output "wq-cluster: no cluster runs in $C (wq-cluster up first)"
	wq-cluster up --dir "$C" --workers 1 2>/dev/null
	run wq-cluster scale --dir "$C"
	assert_failure 2
	run wq-cluster scale worker=many --dir "$C"
	assert_failure 2
	assert_output "wq-cluster: bad count in 'worker=many'"
	run wq-cluster --help
	assert_success
	assert_output --partial "usage: wq-cluster up"
}

@test "a relative --dir gives an absolute socket path" {
	cd "$(suite_dir)"
	run wq-cluster up --dir "c$BATS_TEST_NUMBER" --workers 1
	assert_success
	assert_output --partial "export WQ_REDIS=unix://$C/redis.sock"
}

# api_node URL: the node that answered /healthz there.
api_node() {
	curl -s -m 5 "$1/healthz" | jq -r .node
}

# both_answer URL A B: over a few requests, both A and B answer.
both_answer() {
	local seen=" "
	for _ in 1 2 3 4; do
		seen="$seen$(api_node "$1") "
	done
	[[ $seen == *" $2 "* ]] && [[ $seen == *" $3 "* ]]
}

@test "up --api 2 --lb: HAProxy spreads the requests over both API instances" {
	run wq-cluster up --dir "$C" --workers 1 --api 2 --lb --sleep 0
	assert_success
	lb=$(field lb address)
	assert_output --partial "export WQ_API=http://$lb"
	assert_output --partial ", 2 API instance(s), haproxy on $lb"
	run wq-cluster status --dir "$C"
	assert_success
	[ "$(echo "$output" | jq -r .name | tr '\n' ' ')" = "redis worker-1 api-1 api-2 lb " ]
	a1=$(field api-1 node)
	a2=$(field api-2 node)
	[[ $a1 == api-* ]]
	[[ $a2 == api-* ]]
	[ "$a1" != "$a2" ]
	# each instance answers on its own address, and is a member
	[ "$(api_node "http://$(field api-1 address)")" = "$a1" ]
	[ "$(api_node "http://$(field api-2 address)")" = "$a2" ]
	members | grep -qx "$a1"
	haproxy -c -q -f "$C/haproxy.cfg"
	# HAProxy's health checks pass, and it sends requests to both
	wait_for 20 both_answer "http://$lb" "$a1" "$a2"
	sleep 1.5
	both_answer "http://$lb" "$a1" "$a2"
	eval "$(wq-cluster env --dir "$C")"
	run sh -c 'wq-submit --api "$WQ_API" one two | wq-status --wait --timeout 20 --jq "{status, accepted_by}"'
	assert_success
	[ "$(echo "$output" | jq -r .status | sort -u)" = worked ]
	echo "$output" | jq -r .accepted_by | grep -qx -e "$a1" -e "$a2"
}

@test "scale api=1 reloads HAProxy with the one server left; down stops them all" {
	wq-cluster up --dir "$C" --workers 1 --api 2 --lb 2>/dev/null
	lb=$(field lb address)
	lbpid=$(field lb pid)
	a2pid=$(field api-2 pid)
	a1=$(field api-1 node)
	run wq-cluster scale api=1 --dir "$C"
	assert_success
	gone "$a2pid"
	[ "$(grep -c '^	server ' "$C/haproxy.cfg")" = 1 ]
	[ "$(field lb pid)" != "$lbpid" ]
	wait_for 20 gone "$lbpid"
	for _ in 1 2 3 4; do
		[ "$(api_node "http://$lb")" = "$a1" ]
	done
	[ "$(wq-cluster env --dir "$C" | grep WQ_API)" = "export WQ_API=http://$lb" ]
	# scaling the workers alone leaves HAProxy be
	lbpid=$(field lb pid)
	wq-cluster scale worker=2 --dir "$C" 2>/dev/null
	[ "$(field lb pid)" = "$lbpid" ]
	pids=$(wq-cluster status --dir "$C" | jq -r .pid)
	run wq-cluster down --dir "$C"
	assert_success
	for p in $pids; do gone "$p"; done
	run curl -s -m 2 "http://$lb/healthz"
	assert_failure
}

@test "--token: the API instances require it, env exports it, ps does not show it" {
	wq-cluster up --dir "$C" --workers 1 --api 1 --token s3cret-tok 2>/dev/null
	api=http://$(field api-1 address)
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$api/api/v1/peers")" = 401 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cret-tok' "$api/api/v1/peers")" = 200 ]
	run wq-cluster env --dir "$C"
	assert_output --partial "export WQ_TOKEN=s3cret-tok"
	assert_output --partial "export WQ_API=$api"
	[ "$(stat -c %a "$C/token")" = 600 ]
	run ps -eo args
	refute_output --partial s3cret-tok
}

@test "a taken --lb-port is a clear error, exit 3, and starts nothing" {
	p=$(free_port)
	start busy python3 -c "import socket,time
s=socket.socket(); s.bind(('127.0.0.1',$p)); s.listen(); time.sleep(60)"
	wait_for 20 listening "$p"
	run wq-cluster up --dir "$C" --api 1 --lb --lb-port "$p"
	assert_failure 3
	assert_output "wq-cluster: port $p is taken (choose another with --lb-port)"
	[ ! -e "$C/redis.pid" ]
	[ ! -e "$C/api-1.pid" ]
}

@test "two ups at once start one cluster" {
	wq-cluster up --dir "$C" --workers 2 >/dev/null 2>&1 &
	first=$!
	run wq-cluster up --dir "$C" --workers 2
	assert_success
	wait "$first"
	run wq-cluster status --dir "$C"
	assert_success
	[ "$(echo "$output" | jq -r .name | tr '\n' ' ')" = "redis worker-1 worker-2 " ]
	[ "$(members | wc -l)" = 2 ]
	[ "$(pgrep -c -f "redis-server 127.0.0.1:$(field redis tcp | cut -d: -f2)")" = 1 ]
}

@test "down lets a running job finish before it stops the worker" {
	wq-cluster up --dir "$C" --workers 1 --sleep 3 2>/dev/null
	eval "$(wq-cluster env --dir "$C")"
	id=$(wq-submit slow | jq -r .callback)
	wait_for 20 sh -c "wq-status $id | grep -q '\"status\":\"working\"'"
	run wq-cluster down --dir "$C"
	assert_success
	refute_output --partial killed
	grep -q 'drain: ' "$C/logs/worker-1.log"
	# the job was worked, not handed back: Redis kept it in its AOF
	wq-cluster up --dir "$C" --workers 0 2>/dev/null
	run wq-status --jq .status "$id"
	assert_output '"worked"'
}

# The run directory decides what the workers run (RUNDIR/work) and what
# down signals: wq-cluster takes only one that is this user's alone.

@test "a run directory of another user, or that others may write, is refused: exit 3, nothing runs" {
	# another user made it first, and wrote the work the workers would run
	mkdir -m 755 "$C"
	printf '%s\n' --exec "touch $(suite_dir)/pwned" >"$C/work"
	chown -R 12345:12345 "$C"
	run wq-cluster up --dir "$C" --workers 1
	assert_failure 3
	assert_output "wq-cluster: run directory $C belongs to uid 12345, not to you (uid $(id -u)): refusing it"
	[ ! -e "$C/redis.pid" ]
	[ ! -e "$C/worker-1.pid" ]
	[ ! -e "$C/.lock" ]
	[ ! -e "$(suite_dir)/pwned" ]
	for verb in status env down logs "scale worker=1"; do
		# shellcheck disable=SC2086
		run wq-cluster $verb --dir "$C"
		assert_failure 3
		assert_output --partial "run directory $C belongs to uid 12345"
	done
	# ours, but others may write in it
	chown -R "$(id -u):$(id -g)" "$C"
	for mode in 775 757 1777; do
		chmod "$mode" "$C"
		run wq-cluster up --dir "$C" --workers 1
		assert_failure 3
		assert_output "wq-cluster: run directory $C may be written by others (mode $mode): refusing it"
		[ ! -e "$C/redis.pid" ]
	done
	# a symbolic link, even to a directory of ours
	chmod 700 "$C"
	ln -s "$C" "$C.link"
	run wq-cluster up --dir "$C.link/" --workers 1
	assert_failure 3
	assert_output "wq-cluster: run directory $C.link is a symbolic link: refusing it"
	# in a directory others may write (and not sticky, as /tmp is): they
	# could put theirs in its place
	mkdir -m 777 "$C.open"
	run wq-cluster up --dir "$C.open/run" --workers 1
	assert_failure 3
	assert_output "wq-cluster: run directory $C.open/run is in $C.open, which others may write (mode 777): refusing it"
	[ ! -e "$C.open/run" ]
	[ ! -e "$(suite_dir)/pwned" ]
}

@test "the default run directory: \$XDG_RUNTIME_DIR/wq-cluster, else one of ours under TMPDIR, made private" {
	x="$(suite_dir)/xdg$BATS_TEST_NUMBER"
	mkdir -m 700 "$x"
	C="$x/wq-cluster"
	run env -u WQ_RUN_DIR XDG_RUNTIME_DIR="$x" wq-cluster up --workers 1
	assert_success
	assert_output --partial "export WQ_REDIS=unix://$C/redis.sock"
	[ "$(stat -c '%u %a' "$C")" = "$(id -u) 700" ]
	run env -u WQ_RUN_DIR XDG_RUNTIME_DIR="$x" wq-cluster down
	assert_success
	assert_output "wq-cluster: down: $C"
	# an XDG_RUNTIME_DIR that others may write is passed over
	chmod 777 "$x"
	t="$(suite_dir)/tmp$BATS_TEST_NUMBER"
	mkdir -m 1777 "$t"
	C="$t/wq-cluster-wqtest"
	run env -u WQ_RUN_DIR XDG_RUNTIME_DIR="$x" TMPDIR="$t" USER=wqtest \
		wq-cluster up --workers 0
	assert_success
	assert_output --partial "export WQ_REDIS=unix://$C/redis.sock"
	[ "$(stat -c '%u %a' "$C")" = "$(id -u) 700" ]
	[ ! -e "$x/wq-cluster/redis.pid" ]
	# and one that another made there first is refused, as any other
	wq-cluster down --dir "$C" 2>/dev/null
	chown 12345 "$C"
	run env -u WQ_RUN_DIR -u XDG_RUNTIME_DIR TMPDIR="$t" USER=wqtest \
		wq-cluster up --workers 0
	assert_failure 3
	assert_output "wq-cluster: run directory $C belongs to uid 12345, not to you (uid $(id -u)): refusing it"
}

@test "the token and the work are written as new files: a symbolic link in their place is not followed" {
	mkdir -m 700 "$C"
	victim="$(suite_dir)/victim$BATS_TEST_NUMBER"
	echo precious >"$victim"
	ln -s "$victim" "$C/token"
	ln -s "$victim" "$C/work"
	run wq-cluster up --dir "$C" --workers 1 --token s3cret-tok --exec cat
	assert_success
	[ "$(cat "$victim")" = precious ]
	[ ! -L "$C/token" ]
	[ "$(cat "$C/token")" = s3cret-tok ]
	[ "$(stat -c %a "$C/token")" = 600 ]
	[ ! -L "$C/work" ]
	[ "$(cat "$C/work")" = "$(printf '%s\n' --exec cat)" ]
	[ -z "$(ls -A "$C" | grep '^\.token\.\|^\.work\.')" ]
	run wq-cluster env --dir "$C"
	assert_output --partial "export WQ_TOKEN=s3cret-tok"
}

# --- up --redis-cluster: a Redis Cluster instead of the one redis-server ---

# snap: status, kept in $S.  in_snap JQ: JQ on each line of it.
snap() {
	S=$(wq-cluster status --dir "$C")
}
in_snap() {
	echo "$S" | jq -r "$1"
}

@test "up --redis-cluster 3 --replicas 1: six nodes with their roles, the workers on them; up twice starts nothing; down leaves no process" {
	# a namespace in one slot, which the test moves as deploy/README.md
	# says (a cluster's default is 48 partitions)
	export WQ_PARTITIONS=1
	run timeout -k 5 120 wq-cluster up --dir "$C" --redis-cluster 3 --replicas 1 --workers 2 --sleep 0
	assert_success
	assert_output --partial "wq-cluster: up in $C: a Redis Cluster of 3 primaries and 3 replica(s) on 127.0.0.1:"
	assert_output --partial ", 2 worker(s), 0 API instance(s)"
	url=$(rc_url)
	assert_output --partial "export WQ_REDIS=$url"
	[ "$(wq-cluster env --dir "$C")" = "export WQ_REDIS=$url" ]
	run wq-cluster status --dir "$C"
	assert_success
	S=$output
	[ "$(in_snap .name | tr '\n' ' ')" = "redis-1 redis-2 redis-3 redis-4 redis-5 redis-6 worker-1 worker-2 " ]
	[ "$(in_snap 'select(.name | startswith("redis-")) | .role' | sort | tr '\n' ' ')" = "primary primary primary replica replica replica " ]
	# each primary has one replica
	[ "$(in_snap 'select(.role=="replica") | .replica_of' | sort -u | wc -l)" = 3 ]
	for r in $(in_snap 'select(.role=="replica") | .replica_of'); do
		[ "$(in_snap "select(.name==\"$r\") | .role")" = primary ]
	done
	# on loopback, AOF on, its own bus port, files in the run directory
	for n in 1 2 3 4 5 6; do
		p=$(cat "$C/redis-$n.port")
		[ "$(in_snap "select(.name==\"redis-$n\") | .address")" = "127.0.0.1:$p" ]
		[ "$(redis-cli -p "$p" config get bind | tail -1)" = 127.0.0.1 ]
		[ "$(redis-cli -p "$p" config get appendonly | tail -1)" = yes ]
		[ "$(redis-cli -p "$p" config get cluster-port | tail -1)" = "$(cat "$C/redis-$n.bus")" ]
		[ "$(redis-cli -p "$p" config get cluster-require-full-coverage | tail -1)" = no ]
		[ "$(redis-cli -p "$p" config get dir | tail -1)" = "$C/redis-$n" ]
		redis-cli -p "$p" cluster info | grep -q '^cluster_state:ok'
		[ -f "$C/redis-$n/nodes.conf" ]
	done
	# the workers are members, and work
	[ "$(in_snap 'select(.role=="worker") | .node' | sort)" = "$(WQ_REDIS=$url wq-peers | jq -r .name | sort)" ]
	eval "$(wq-cluster env --dir "$C")"
	ids=$(seq 50 | wq-submit | jq -r .callback)
	[ "$(echo "$ids" | wc -l)" = 50 ]
	run timeout -k 5 60 wq-status --wait --timeout 30 --jq .status $ids
	assert_success
	[ "$(echo "$output" | sort | uniq -c | tr -s ' ')" = ' 50 "worked"' ]
	# the namespace's slot moved to another primary as deploy/README.md
	# says, nothing of wq running: its keys all go, and wq goes on there
	wq-cluster scale worker=0 --dir "$C" 2>/dev/null
	slot=$(redis-cli -p "$(cat "$C/redis-1.port")" cluster keyslot '{wq}')
	for p in $(in_snap 'select(.role=="primary") | .address' | cut -d: -f2); do
		if [ "$(redis-cli -p "$p" cluster countkeysinslot "$slot")" -gt 0 ]; then
			from=$p
		else
			to=$p
		fi
	done
	block=$(sed -n '/^<!-- tests\/cluster-ops.bats runs this block -->$/,/^```$/p' \
		"$WQ_SRCDIR/deploy/README.md" | sed '1,2d; $d')
	[ -n "$block" ]
	run env SEED="127.0.0.1:$from" FROM="127.0.0.1:$from" TO="127.0.0.1:$to" \
		timeout -k 5 60 bash -c "$block"
	assert_success
	[ "$(redis-cli -p "$from" cluster countkeysinslot "$slot")" = 0 ]
	[ "$(redis-cli -p "$to" cluster countkeysinslot "$slot")" -gt 50 ]
	wq-cluster scale worker=2 --dir "$C" 2>/dev/null
	run timeout -k 5 60 wq-status --wait --timeout 30 --jq .status $ids $(wq-submit after-the-move | jq -r .callback)
	assert_success
	[ "$(echo "$output" | sort | uniq -c | tr -s ' ')" = ' 51 "worked"' ]
	# up again: the same processes, the same exports, with or without
	# the flags
	snap
	before=$(in_snap '{name,pid} | tojson')
	run wq-cluster up --dir "$C"
	assert_success
	assert_output --partial "export WQ_REDIS=$url"
	run wq-cluster up --dir "$C" --redis-cluster 3 --replicas 1 --workers 2
	assert_success
	snap
	[ "$(in_snap '{name,pid} | tojson')" = "$before" ]
	# the run directory holds this cluster: no other shape, no standalone
	run wq-cluster up --dir "$C" --redis-cluster 4
	assert_failure 2
	assert_output "wq-cluster: run directory $C holds a Redis Cluster of 3 primaries with 1 replica(s) each: wq-cluster does not reshape it (use another --dir)"
	run wq-cluster up --dir "$C" --port "$(free_port)"
	assert_failure 2
	assert_output "wq-cluster: run directory $C holds a Redis Cluster: --port is the one redis-server's (use another --dir)"
	# a node that died is restarted, and only that one
	r=$(in_snap 'select(.role=="replica") | .name' | head -1)
	rpid=$(in_snap "select(.name==\"$r\") | .pid")
	kill -9 "$rpid"
	wait_for 20 gone "$rpid"
	run wq-cluster status --dir "$C"
	assert_failure 1
	assert_output --partial '"name":"'"$r"'","role":"replica","pid":'"$rpid"',"alive":false'
	run timeout -k 5 60 wq-cluster up --dir "$C"
	assert_success
	snap
	[ "$(in_snap "select(.name==\"$r\") | .pid")" != "$rpid" ]
	[ "$(in_snap "select(.name==\"$r\") | .role")" = replica ]
	[ "$(in_snap "select(.name != \"$r\") | {name,pid} | tojson")" = "$(echo "$before" | grep -v "\"$r\"")" ]
	# down stops every node and the workers, and returns once they are
	# gone
	down_stops 8 "$(in_snap .pid)"
	grep -q 'exit: ' "$C/logs/worker-1.log"
	[ -z "$(ls "$C"/*.pid 2>/dev/null)" ]
	[ -z "$(rc_leftovers)" ]
	run wq-cluster env --dir "$C"
	assert_failure 1
	run wq-cluster status --dir "$C"
	assert_failure 1
	[ "$(echo "$output" | jq -r .alive | sort -u)" = false ]
	# up again: the same cluster, and what it held (AOF)
	run timeout -k 5 60 wq-cluster up --dir "$C" --workers 0
	assert_success
	assert_output --partial "export WQ_REDIS=$url"
	run wq-status --jq .status $ids
	assert_success
	[ "$(echo "$output" | sort | uniq -c | tr -s ' ')" = ' 50 "worked"' ]
}

@test "--redis-cluster: fewer than 3 primaries, or not a number, is a usage error, exit 2, and starts nothing" {
	for m in 0 2 abc -3 ''; do
		run wq-cluster up --dir "$C" --redis-cluster "$m"
		assert_failure 2
		[ "${#lines[@]}" = 1 ]
		case $m in
		0|2) assert_output "wq-cluster: bad --redis-cluster $m: a Redis Cluster has 3 primaries or more" ;;
		*) assert_output "wq-cluster: bad --redis-cluster: a number" ;;
		esac
	done
	run wq-cluster up --dir "$C" --redis-cluster 3 --replicas x
	assert_failure 2
	assert_output "wq-cluster: bad --replicas: a number"
	run wq-cluster up --dir "$C" --replicas 1
	assert_failure 2
	assert_output "wq-cluster: --replicas goes with --redis-cluster M"
	run wq-cluster up --dir "$C" --redis-cluster 30 --replicas 3
	assert_failure 2
	assert_output "wq-cluster: --redis-cluster 30 --replicas 3: at most 100 Redis nodes on one machine"
	run wq-cluster up --dir "$C" --redis-cluster 3 --port 7000
	assert_failure 2
	assert_output "wq-cluster: --port is the one redis-server's: the nodes of --redis-cluster take free ports from 16379"
	[ ! -e "$C" ]
}

@test "--redis-cluster on a run directory of a standalone redis-server is refused, exit 2" {
	wq-cluster up --dir "$C" --workers 0 2>/dev/null
	run wq-cluster up --dir "$C" --redis-cluster 3
	assert_failure 2
	assert_output "wq-cluster: run directory $C holds a standalone redis-server: a Redis Cluster needs another --dir"
	# down, it still holds that server's data
	wq-cluster down --dir "$C" 2>/dev/null
	run wq-cluster up --dir "$C" --redis-cluster 3
	assert_failure 2
	[ -z "$(ls "$C" | grep '^redis-')" ]
}

@test "a Redis Cluster that could not be made is undone: exit 3, no node left, and nothing of it kept" {
	bin="$(suite_dir)/bin$BATS_TEST_NUMBER"
	mkdir -p "$bin"
	cp "$WQ_SRCDIR/cmd/wq-cluster" "$bin/"
	printf '#!/bin/sh\n[ "$1" = --cluster ] && { echo "*** ERROR: no way" >&2; exit 1; }\nexec %s "$@"\n' \
		"$(command -v redis-cli)" >"$bin/redis-cli"
	chmod +x "$bin/redis-cli"
	run env PATH="$bin:$PATH" "$bin/wq-cluster" up --dir "$C" --redis-cluster 3 --workers 0
	assert_failure 3
	assert_output "wq-cluster: redis-cli --cluster create failed: *** ERROR: no way (see $C/logs/cluster-create.log)"
	[ -z "$(ls "$C" | grep '^redis-')" ]
	# the three nodes it had started were stopped
	for n in 1 2 3; do
		grep -q 'Ready to accept connections' "$C/logs/redis-$n.log"
		grep -q 'Redis is now ready to exit' "$C/logs/redis-$n.log"
	done
	run wq-cluster status --dir "$C"
	assert_failure 1
	assert_output "wq-cluster: no cluster in $C"
}
