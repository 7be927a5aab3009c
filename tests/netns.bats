#!/usr/bin/env bats
# Network faults across hosts: Redis, two workers and the API on separate
# addresses, in network namespaces of their own (needs root and iproute2,
# as CI has).  One worker's link is cut mid-job: its job is reclaimed
# after the node timeout and finished by the other; when the link comes
# back, the cut-off worker's late result is fenced off.

load helpers

NS1=wqt-w1-$$
NS2=wqt-w2-$$
NS3=wqt-w3-$$

setup_file() { redis_start; }
teardown_file() { redis_stop; }

net_up() {
	local i ns
	for i in 1 2 3; do
		ns=wqt-w$i-$$
		ip netns add "$ns"
		ip link add "wqv$i-$$" type veth peer name "wqn$i-$$"
		ip link set "wqn$i-$$" netns "$ns"
		ip addr add "10.231.$i.1/24" dev "wqv$i-$$"
		ip link set "wqv$i-$$" up
		ip netns exec "$ns" ip addr add "10.231.$i.2/24" dev "wqn$i-$$"
		ip netns exec "$ns" ip link set "wqn$i-$$" up
		ip netns exec "$ns" ip link set lo up
	done
}

net_down() {
	local i
	for i in 1 2 3; do
		ip link del "wqv$i-$$" 2>/dev/null || true
		ip netns del "wqt-w$i-$$" 2>/dev/null || true
	done
}

setup() {
	net_up
	port=$(free_port)
	redis_start net --bind 10.231.1.1 10.231.2.1 10.231.3.1 --port "$port" --protected-mode no
}

teardown() {
	stop_started
	redis_stop net
	net_down
}

@test "a worker cut off mid-job is fenced: its job is finished elsewhere" {
	sock="$(suite_dir)/net.sock"
	rn() { redis-cli -s "$sock" "$@"; }
	common=(--heartbeat 0.25 --node-timeout 2)
	start w1 ip netns exec "$NS1" env WQ_REDIS="redis://10.231.1.1:$port" \
		"$(command -v wq-worker)" --exec 'sleep 8; echo from-w1' --name w1 "${common[@]}"
	wait_for 20 sh -c "[ -n \"\$(redis-cli -s $sock zscore wq:nodes w1)\" ]"
	# the API on a third host; the work is submitted through it
	aport=$(free_port)
	start api ip netns exec "$NS3" env WQ_REDIS="redis://10.231.3.1:$port" \
		"$(command -v wq-api)" --listen "10.231.3.2:$aport" --workers 1 \
		--insecure-no-token
	api="http://10.231.3.2:$aport"
	wait_for 20 curl -sf "$api/healthz"
	id=$(curl -H 'Content-Type: application/json' -s -XPOST -d '{"data":"cut"}' "$api/api/v1/work" | jq -r .callback)
	[ "$id" = "$(printf cut | md5sum | cut -c1-32 | tr a-f A-F)" ]
	wait_for 20 sh -c "[ \"\$(redis-cli -s $sock hget wq:job:$id w)\" = w1 ]"
	start w2 ip netns exec "$NS2" env WQ_REDIS="redis://10.231.2.1:$port" \
		"$(command -v wq-worker)" --exec 'echo from-w2' --name w2 "${common[@]}"
	# cut w1's link while it runs the job (of 8 s: it still runs, however
	# busy the machine)
	ip link set "wqv1-$$" down
	wait_for 20 sh -c "[ \"\$(redis-cli -s $sock hget wq:job:$id s)\" = worked ]"
	[ "$(rn hget "wq:job:$id" w)" = w2 ]
	[ "$(rn hget "wq:job:$id" r)" = '"from-w2"' ]
	[ "$(rn hget "wq:job:$id" a)" = 2 ]
	# the link comes back: w1's late result is dropped, not written
	ip link set "wqv1-$$" up
	wait_for 30 grep -q "job $id: result dropped" "$(suite_dir)/w1.log"
	[ "$(rn hget "wq:job:$id" r)" = '"from-w2"' ]
	[ "$(rn hget "wq:job:$id" w)" = w2 ]
	# what the API answers is the newer state too
	run curl -s "$api/api/v1/work/$id"
	assert_output --partial '"worker":"w2"'
	assert_output --partial '"result":"from-w2"'
	# and w1 is a member again
	wait_for 20 sh -c "[ -n \"\$(redis-cli -s $sock zscore wq:nodes w1)\" ]"
}
