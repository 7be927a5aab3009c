#!/usr/bin/env bats
# Faults: workers killed and frozen at random, Redis restarted and failed
# over.  The promise under test: every accepted job ends worked, a late
# result never overwrites a newer state, and the processes recover alone.

load helpers

setup_file() { redis_start; }
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() {
	local d
	d=$(suite_dir)
	stop_started
	# the AOF redis-server of the restart tests, if one failed midway
	if [ -f "$d/aof.pid" ]; then
		kill -9 "$(cat "$d/aof.pid")" 2>/dev/null || true
		rm -f "$d/aof.pid"
	fi
}

# chaos SIGNAL JOBS: JOBS jobs at first, 4 workers; every ~0.5 s one
# random worker gets SIGNAL (KILL: replaced by a new one; STOP: resumed
# 2 s later).  More jobs are queued while fewer than 12 signals were
# sent and the queue runs dry, so that a fast machine sees as much chaos as a slow one.
chaos() {
	local sig=$1 jobs=$2 dir execs i n victim end signals=0
	dir=$(suite_dir)
	execs="$dir/execs-$sig"
	: >"$execs"
	seq "$jobs" | wq-submit --lines >/dev/null
	wargs=(--exec "echo \$WQ_JOB_ID >>$execs; cat" --concurrency 4
	    --heartbeat 0.25 --node-timeout 1 --max-attempts 20 --backoff 0.05 --quiet)
	for i in 1 2 3 4; do start "cw$i" wq-worker "${wargs[@]}"; done
	# as long as it takes, but not a minute without a job done (a busy
	# machine is slow; a stall is a hang)
	last=-1
	since=$(now_ms)
	while [ "$(stat_of worked)" != "$jobs" ] || [ "$signals" -lt 12 ]; do
		if [ "$(stat_of worked)" != "$last" ]; then
			last=$(stat_of worked)
			since=$(now_ms)
		elif [ $(( $(now_ms) - since )) -ge 60000 ]; then
			echo "chaos: stuck at $last of $jobs jobs for 60 s" >&2
			return 1
		fi
		if [ "$signals" -lt 12 ] && [ "$(rcli llen wq:queue:default)" = 0 ]; then
			seq "$((jobs + 1))" "$((jobs + 50))" | wq-submit --lines >/dev/null
			jobs=$((jobs + 50))
		fi
		sleep 0.5
		victim=$(( RANDOM % 4 + 1 ))
		signals=$((signals + 1))
		if [ "$sig" = KILL ]; then
			kill -9 "$(pid_of "cw$victim")" 2>/dev/null
			start "cw$victim" wq-worker "${wargs[@]}"
		else
			kill -STOP "$(pid_of "cw$victim")" 2>/dev/null
			( sleep 2; kill -CONT "$(pid_of "cw$victim")" 2>/dev/null ) 3>&- &
		fi
	done
	[ "$signals" -ge 12 ]
	# every accepted job is worked, nothing is queued, delayed or held
	[ "$(rcli llen wq:queue:default)" = 0 ]
	[ "$(rcli zcard wq:delayed:default)" = 0 ]
	[ "$(rcli llen wq:dead:default)" = 0 ]
	run sh -c "seq $jobs | wq-submit --lines | jq -r .status | sort | uniq -c"
	assert_output --regexp "^ *$jobs worked$"
	total=$(wc -l <"$execs")
	uniq=$(sort -u "$execs" | wc -l)
	[ "$uniq" = "$jobs" ]
	echo "# chaos $sig: $jobs jobs, $signals signals, $total executions, $(( total - uniq )) duplicates" >&3
}

@test "chaos: kill -9 a random worker every 0.5 s; every job ends worked" {
	chaos KILL 300
}

@test "chaos: freeze (SIGSTOP) a random worker every 0.5 s; every job ends worked" {
	chaos STOP 300
	# frozen workers came back to find their claims taken away
	cat "$(suite_dir)"/cw*.log | grep -q fenced
}

@test "a frozen worker's late result is dropped, not written over the newer one" {
	id=$(wq-submit foo | jq -r .callback)
	# (a job of 5 s: it runs still when the worker is frozen, however
	# busy the machine)
	start frozen wq-worker --sleep 5 --name frozen --heartbeat 0.25 --node-timeout 1
	wait_for 20 status_is "$id" working
	kill -STOP "$(pid_of frozen)"
	start rescuer wq-worker --exec 'echo rescued' --name rescuer --heartbeat 0.25 --node-timeout 1
	wait_for 20 status_is "$id" worked
	[ "$(rcli hget wq:job:$id w)" = rescuer ]
	kill -CONT "$(pid_of frozen)"
	wait_for 20 grep -q "job $id: result dropped" "$(suite_dir)/frozen.log"
	run wq-status "$id"
	assert_output --partial '"worker":"rescuer"'
	assert_output --partial '"result":"rescued"'
	assert_output --partial '"attempts":2'
	run log_of frozen
	assert_output --partial "job $id: result dropped"
	# and it joined again, as a new member
	wait_for 20 sh -c "wq-peers | grep -q '\"name\":\"frozen\"'"
}

# A second redis-server with AOF, on its own socket, restartable.
aof_start() {
	local dir
	dir=$(suite_dir)
	mkdir -p "$dir/aof"
	redis-server --port 0 --unixsocket "$dir/aof.sock" --unixsocketperm 700 \
		--dir "$dir/aof" --appendonly yes --appendfsync "$1" --save '' \
		--daemonize yes --pidfile "$dir/aof.pid" --logfile "$dir/aof.log" >/dev/null
	wait_for 20 redis-cli -s "$dir/aof.sock" ping
	# AOF loaded, not still loading
	wait_for 20 sh -c "redis-cli -s $dir/aof.sock info persistence | grep -q 'loading:0'"
}

# worked_of_acked SOCK FILE: how many of the ids in FILE are worked.
worked_of_acked() {
	redis-cli -s "$1" eval "local n = 0
		for _, id in ipairs(ARGV) do
			if redis.call('hget', 'wq:job:' .. id, 's') == 'worked' then
				n = n + 1
			end
		end
		return n" 0 $(sort -u "$2")
}

restart_test() {
	local how=$1 dir sock ids late
	dir=$(suite_dir)
	sock="$dir/aof.sock"
	aof_start always
	export WQ_REDIS="unix://$sock"
	start w1 wq-worker --exec 'cat' --concurrency 2 --heartbeat 0.25 --node-timeout 2 --quiet
	start w2 wq-worker --exec 'cat' --concurrency 2 --heartbeat 0.25 --node-timeout 2 --quiet
	start mon wq-peers --watch --interval 0.2
	# submit one by one; keep the ids of acknowledged submissions
	: >"$dir/acked"
	( for i in $(seq 200); do
		wq-submit "job-$i" 2>/dev/null | jq -r .callback >>"$dir/acked"
	  done ) 3>&- &
	subpid=$!
	# Redis goes away once 50 submissions were acknowledged, and stays
	# away for 2 s: long enough for the monitor and the workers to see it
	# (the monitor looks every 0.2 s), however busy the machine
	wait_for 60 eval '[ "$(sort -u "$dir/acked" | grep -c .)" -gt 50 ]'
	# a waiter for a job that nobody works until Redis is back
	late=$(wq-submit --queue later late | jq -r .callback)
	start waiter wq-status --wait --timeout 120 "$late"
	# subscribed before Redis goes away: a waiter that cannot reach Redis
	# at its start exits 3, as it should
	wait_for 20 eval '[ "$(redis-cli -s "$sock" pubsub numsub \
	    "wq:done:$late" | tail -1)" = 1 ]'
	kill "-$how" "$(cat "$dir/aof.pid")"
	sleep 2
	aof_start always
	wait "$subpid" || true
	n=$(sort -u "$dir/acked" | grep -c .)
	[ "$n" -gt 50 ]
	# every acknowledged job is there and ends worked
	wait_count "$n" 60 worked_of_acked "$sock" "$dir/acked"
	# the workers and the monitor stayed up and came back
	kill -0 "$(pid_of w1)" && kill -0 "$(pid_of w2)" && kill -0 "$(pid_of mon)"
	grep -q 'connected again' "$dir/w1.log"
	grep -q '"redis":"unreachable"' "$dir/mon.log"
	tail -1 "$dir/mon.log" | grep -q '"redis":"ok"'
	# the waiter waited through it, and answers once its job is worked
	kill -0 "$(pid_of waiter)"
	start w3 wq-worker --queue later --exec cat --quiet
	wait_for 60 grep -q '"status":"worked"' "$dir/waiter.log"
	stop_started
	redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1 || true
	rm -rf "$dir/aof"
	echo "# redis SIG$how mid-run: $n acknowledged submissions, none lost" >&3
}

@test "redis-server SIGTERM mid-run (AOF always): nothing acknowledged is lost" {
	restart_test TERM
}

@test "redis-server SIGKILL mid-run (AOF always): nothing acknowledged is lost" {
	restart_test KILL
}

@test "Redis answering an error fails that one operation: exit 4, logged, no reconnect" {
	d=$(suite_dir)
	rm -f "$d/go"
	# a queue's key of another type: a submission to it fails, exit 4
	rcli set wq:queue:bad x >/dev/null
	run wq-submit --queue bad foo
	assert_failure 4
	assert_output --partial 'Redis answered an error: WRONGTYPE'
	# a worker on it and on a good queue works the good one
	id=$(wq-submit --queue good one | jq -r .callback)
	start w1 wq-worker --queue bad --queue good --name w1 --heartbeat 0.1 \
		--exec "while [ ! -e $d/go ]; do sleep 0.05; done; cat"
	wait_for 20 status_is "$id" working
	# its record made a string while it runs: its outcome cannot be
	# recorded, the worker says so once and goes on
	rcli del "wq:job:$id" >/dev/null
	rcli set "wq:job:$id" x >/dev/null
	two=$(wq-submit --queue good two | jq -r .callback)
	touch "$d/go"
	run wq-status --wait --timeout 20 "$two"
	assert_success
	assert_output --partial '"status":"worked"'
	wait_for 20 grep -q "job $id: its outcome was not recorded" "$d/w1.log"
	run wq-status "$id"
	assert_failure 4
	assert_output --partial 'WRONGTYPE'
	run log_of w1
	refute_output --partial unreachable
	refute_output --partial 'connected again'
	[ "$(rcli zscore wq:nodes w1)" != "" ]
}

@test "a worker that finds its name taken when it comes back kills its jobs and exits 2" {
	d=$(suite_dir)
	rm -f "$d/jobpid"
	wq-submit --queue slow long >/dev/null
	start w1 wq-worker --queue slow --name twin --heartbeat 0.1 --node-timeout 1 \
		--exec "echo \$\$ >$d/jobpid; sleep 60"
	wait_for 20 test -s "$d/jobpid"
	job=$(cat "$d/jobpid")
	kill -STOP "$(pid_of w1)"
	# reaped while frozen (by another node's sweep); a new process takes
	# the name
	start sweeper wq-worker --queue other --name sweeper --heartbeat 0.1 --sleep 0
	wait_for 20 eval '[ -z "$(rcli zscore wq:nodes twin)" ]'
	start w2 wq-worker --queue other --name twin --heartbeat 0.1 --sleep 0
	wait_for 20 eval '[ -n "$(rcli zscore wq:nodes twin)" ]'
	kill -CONT "$(pid_of w1)"
	wait_for 20 eval '! kill -0 "$(pid_of w1)"'
	run wait "$(pid_of w1)"
	[ "$status" = 2 ]
	! kill -0 "$job" 2>/dev/null
	run log_of w1
	assert_output --partial 'stopping 1 running job(s) and exiting'
	# the new holder of the name is untouched
	kill -0 "$(pid_of w2)"
}
