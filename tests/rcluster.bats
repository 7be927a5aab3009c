#!/usr/bin/env bats
# libwq's Redis Cluster client (lib/rcluster.c), against a real Redis
# Cluster of 3 primaries and 3 replicas (rcluster_start, helpers.bash),
# through its test driver tests/rcluster-test: bad redis-cluster:// URLs
# and unreachable seeds refused; the slot of keys (hash tags and their
# edge cases) against CLUSTER KEYSLOT; a pipeline of 20000 commands over
# all primaries answered in order; MOVED after redis-cli --cluster
# reshard; ASK during a migration made by hand; EVALSHA of a script a
# node does not know; and a primary killed with SIGKILL, its replica
# promoted, the client recovering without a restart (last: it leaves the
# cluster with a dead node).

load helpers
bats_require_minimum_version 1.5.0

setup_file() { rcluster_start; }
teardown_file() {
	rcluster_stop
	[ -n "${WQ_KEEP_SUITE_DIR:-}" ] || rm -rf "$(suite_dir)"
}
teardown() { stop_started; }

# drive: the lines of stdin on one client of the cluster, bounded.
drive() {
	timeout -k 5 60 "$WQ_BUILDDIR/tests/rcluster-test" "$WQ_RCLUSTER_URL"
}

first_port() {
	echo "${WQ_RCLUSTER_PORTS%% *}"
}

# owner KEY: the client port of the primary of KEY's slot, as the
# cluster says (a MOVED from a node that is not it).
owner() {
	local p out
	p=$(rcluster_primaries | head -1)
	out=$(redis-cli -p "$p" exists "$1")
	case $out in
	*MOVED*) echo "${out##*:}" ;;
	*) echo "$p" ;;
	esac
}

node_id() {
	redis-cli -p "$1" cluster myid
}

# another_primary PORT: a primary other than PORT.
another_primary() {
	rcluster_primaries | grep -vx "$1" | head -1
}

@test "rcluster: bad redis-cluster:// URLs exit 2, no reachable seed exits 3" {
	local t=$WQ_BUILDDIR/tests/rcluster-test url p
	for url in redis-cluster:// redis-cluster://h redis-cluster://h:0 \
	    redis-cluster://h:1, redis-cluster://:1 \
	    'redis-cluster://127.0.0.1:1/0' 'redis-cluster://h:1?db=1' \
	    redis://127.0.0.1:1 cluster://h:1; do
		run -2 "$t" "$url" </dev/null
		[ "${#lines[@]}" -eq 1 ] || {
			echo "$url: $output"
			return 1
		}
		assert_output --partial "bad Redis URL"
	done
	p=$(free_port)
	run -3 "$t" "redis-cluster://127.0.0.1:$p" </dev/null
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial "no seed node of the Redis Cluster"
	assert_output --partial "127.0.0.1:$p"
	# a password stays out of the message
	run -3 "$t" "redis-cluster://u:s3cret@127.0.0.1:$p" </dev/null
	refute_output --partial s3cret
	# a standalone Redis is no cluster node
	redis_start plain --port "$p" --bind 127.0.0.1
	run -3 "$t" "redis-cluster://127.0.0.1:$p" </dev/null
	redis_stop plain
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial "cluster support disabled"
	# the commands say the same in one line, their exit codes
	run -2 wq-status --redis redis-cluster://h:1, C4CA4238A0B923820DCC509A6F75849B
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial "bad Redis URL"
	run -3 wq-status --redis "redis-cluster://u:s3cret@127.0.0.1:$p" C4CA4238A0B923820DCC509A6F75849B
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial "no seed node of the Redis Cluster"
	refute_output --partial s3cret
}

@test "rcluster: the slot of every key is CLUSTER KEYSLOT's, hash tags too" {
	local keys
	keys=$(suite_dir)/keys
	{
		# hash tags and their edge cases
		printf '%s\n' '' '{' '}' '{}' '{}a' 'a{}' 'a{}b' '}{' \
		    '}a{b}' '{a}' '{a}b' 'a{b}c' '{a}{b}' '{{a}}' '{a{b}}' \
		    'a{b' 'a}b' 'a{{b}}' '{}{a}' 'x{}{y}' '{user1000}.following' \
		    '{user1000}.followers' 'foo' '123456789' 'wq:job:{p7}:A1'
		# bytes of every kind but the newline, and long keys
		awk 'BEGIN {
			srand(14)
			for (i = 0; i < 3000; i++) {
				n = 1 + int(rand() * 40)
				k = ""
				for (j = 0; j < n; j++) {
					c = 1 + int(rand() * 254)
					if (c == 10) c = 123
					k = k sprintf("%c", c)
				}
				print k
			}
			s = ""
			for (i = 0; i < 2000; i++) s = s "ab{c"
			print s
			print "{" s "}"
		}'
	} >"$keys"
	run drive <<<"keyslots $keys"
	assert_success
	assert_output "keyslots $(wc -l <"$keys") differ 0"
	# a command goes by its key: the first of a script's
	run drive <<EOF
slot GET foo
slot get {foo}bar
slot EVALSHA 0123 2 {foo}:a b
slot evalsha 0123 0 foo
slot FCALL f 1 foo
slot PING
slot TIME
slot SCRIPT LOAD foo
slot CLUSTER KEYSLOT x
EOF
	assert_success
	assert_output "$(printf '%s\n' 12182 12182 12182 -1 12182 -1 -1 -1 -1)"
}

@test "rcluster: 20000 commands over every primary in one pipeline, in order" {
	run drive <<EOF
fill 10000 pipe
stats
EOF
	assert_success
	assert_line -n 0 "fill 20000 in order on 3 primaries"
	assert_line -n 1 --regexp '^moved=0 ask=0 .* rounds=0$'
	# each primary holds its share
	for p in $(rcluster_primaries); do
		[ "$(redis-cli -p "$p" dbsize)" -gt 2000 ]
	done
}

@test "rcluster: after redis-cli --cluster reshard, the client follows MOVED" {
	local key src dst slot
	# the key of the lowest slot among some: reshard moves a node's
	# lowest slots first
	key=$(for i in $(seq 3000); do echo "CLUSTER KEYSLOT mv:$i"; done |
	    redis-cli -p "$(first_port)" | paste - <(seq 3000) |
	    sort -n | head -1 | cut -f2)
	key=mv:$key
	slot=$(redis-cli -p "$(first_port)" cluster keyslot "$key")
	src=$(owner "$key")
	dst=$(another_primary "$src")
	run drive <<EOF
SET $key before
addr $key
!timeout -k 5 60 redis-cli --cluster reshard 127.0.0.1:$src --cluster-from $(node_id "$src") --cluster-to $(node_id "$dst") --cluster-slots $(( slot + 1 )) --cluster-yes >/dev/null
GET $key
addr $key
stats
EOF
	assert_success
	assert_line -n 0 OK
	assert_line -n 1 "127.0.0.1:$src"
	assert_line -n 2 before
	assert_line -n 3 "127.0.0.1:$dst"
	assert_line -n 4 --regexp '^moved=1 ask=0 '
	[ "$(owner "$key")" = "$dst" ]
}

@test "rcluster: during a migration made by hand, the client follows ASK" {
	local key=ask:1 src dst slot
	slot=$(redis-cli -p "$(first_port)" cluster keyslot "$key")
	src=$(owner "$key")
	dst=$(another_primary "$src")
	# the key, and another of its slot that stays behind for a while
	redis-cli -p "$src" set "$key" here >/dev/null
	redis-cli -p "$src" set "{$key}.stays" there >/dev/null
	redis-cli -p "$dst" cluster setslot "$slot" importing "$(node_id "$src")"
	redis-cli -p "$src" cluster setslot "$slot" migrating "$(node_id "$dst")"
	redis-cli -p "$src" migrate 127.0.0.1 "$dst" "$key" 0 5000
	# then the rest of the slot moves, and the slot is the importer's
	run drive <<EOF
GET $key
GET {$key}.stays
SET {$key}.new fresh
stats
!redis-cli -p $src migrate 127.0.0.1 $dst "" 0 5000 keys "{$key}.stays" >/dev/null && redis-cli -p $dst cluster setslot $slot node $(node_id "$dst") >/dev/null && redis-cli -p $src cluster setslot $slot node $(node_id "$dst") | grep -qx OK
GET $key
stats
EOF
	assert_success
	assert_line -n 0 here
	assert_line -n 1 there
	assert_line -n 2 OK
	assert_line -n 3 --regexp '^moved=0 ask=2 '
	assert_line -n 4 here
	assert_line -n 5 --regexp '^moved=1 ask=2 '
	[ "$(redis-cli -p "$dst" get "{$key}.new")" = fresh ]
}

@test "rcluster: EVALSHA of a script a node does not know is loaded there" {
	run drive <<EOF
evalsha 3000
stats
!for p in $(rcluster_primaries | tr '\n' ' '); do redis-cli -p \$p script flush >/dev/null; done
evalsha 3000
EVALSHA 0000000000000000000000000000000000000000 1 k
stats
EOF
	assert_success
	# loaded on one primary by SCRIPT LOAD, on the two others by NOSCRIPT
	assert_line -n 0 "evalsha 3000 ok on 3 primaries"
	assert_line -n 1 --regexp ' noscript=2 '
	assert_line -n 2 "evalsha 3000 ok on 3 primaries"
	# a script nobody knows: its error is the reply
	assert_line -n 3 --partial "(error) NOSCRIPT"
	assert_line -n 4 --regexp ' noscript=4 '
	[ "$(redis-cli -p "$(owner es:7)" get es:7)" = 2 ]
}

@test "rcluster: the URL's password is used on every node" {
	local seeds=${WQ_RCLUSTER_URL#redis-cluster://} t p
	t=$WQ_BUILDDIR/tests/rcluster-test
	for p in $WQ_RCLUSTER_PORTS; do
		redis-cli -p "$p" config set masterauth s3cret >/dev/null
		redis-cli -p "$p" config set requirepass s3cret >/dev/null
	done
	run timeout -k 5 60 "$t" "redis-cluster://:s3cret@$seeds" <<<"fill 3000 au"
	local with=$status out=$output
	run -3 timeout -k 5 60 "$t" "redis-cluster://$seeds" </dev/null
	local without=$output
	run -3 timeout -k 5 60 "$t" "redis-cluster://default:wrong@$seeds" \
	    </dev/null
	for p in $WQ_RCLUSTER_PORTS; do
		redis-cli -p "$p" --no-auth-warning -a s3cret \
		    config set requirepass "" >/dev/null
	done
	[ "$with" -eq 0 ]
	[ "$out" = "fill 6000 in order on 3 primaries" ]
	[[ $without == *NOAUTH* ]]
	assert_output --partial "refused the credentials"
	refute_output --partial wrong
}

# Last: it leaves a dead node behind.
@test "rcluster: a primary killed with SIGKILL, the client recovers once its replica is promoted" {
	local victim pid before
	victim=$(owner fo:1)
	pid=$(cat "$(suite_dir)/rc-$victim/pid")
	before=$(rcluster_primaries | sort | paste -sd' ')
	run drive <<EOF
fill 3000 fo
!kill -9 $pid
fill 3000 fo
GET fo:1
stats
EOF
	assert_success
	assert_line -n 0 "fill 6000 in order on 3 primaries"
	assert_line -n 1 "fill 6000 in order on 3 primaries"
	assert_line -n 2 v1
	assert_line -n 3 --regexp ' lost=[1-9][0-9]* '
	# another node serves what the victim did
	[ "$(owner fo:1)" != "$victim" ]
	[ "$(rcluster_primaries | sort | paste -sd' ')" != "$before" ]
}
