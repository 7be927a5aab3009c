#!/usr/bin/env bats
# docker-compose.yml and deploy/Dockerfile, without a Docker engine:
# docker-compose parses and interpolates the file, and every command,
# flag, setting, port and package they name is checked against the code,
# the build and this Debian system.  The Dockerfile's build steps are run
# for real on a copy of the tree.

load helpers

setup_file() {
	redis_start
	export PW=pw-0f3c9a1e
	config >"$(suite_dir)/config.json.tmp" &&
		mv "$(suite_dir)/config.json.tmp" "$(suite_dir)/config.json"
}
teardown_file() { redis_stop; }
setup() {
	redis_flush
	DF="$WQ_SRCDIR/deploy/Dockerfile"
}
teardown() {
	stop_started
	redis_stop tls
	redis_stop ma
	redis_stop mb
	if [ -f "$(suite_dir)/sentinel.pid" ]; then
		kill "$(cat "$(suite_dir)/sentinel.pid")" 2>/dev/null || true
		rm -f "$(suite_dir)/sentinel.pid"
	fi
}

# compose ARGS...: docker-compose on our file, with a password and none
# of the optional settings from the caller's environment.
# CENV: more VAR=VALUE settings for it; CFILES: more -f FILE after ours.
CENV=()
CFILES=()
compose() {
	env -u WQ_TOKEN -u WQ_WORKER_ARGS -u WQ_API_WORKERS -u WQ_HTTP_PORT \
		-u WQ_IMAGE -u WQ_NAMESPACE -u WQ_QUEUE -u WQ_TTL -u WQ_MAX_DATA \
		-u WQ_REDIS_SEEDS REDIS_PASSWORD="$PW" "${CENV[@]}" \
		docker-compose --project-directory "$WQ_SRCDIR" \
		-f "$WQ_SRCDIR/docker-compose.yml" "${CFILES[@]}" "$@"
}

# config: the interpolated configuration, as JSON, with the strings as
# Docker gets them ("$$" in the output of config is a "$").  Without
# CENV and CFILES, the one of setup_file.
config() {
	if [ ${#CENV[@]} -eq 0 ] && [ ${#CFILES[@]} -eq 0 ] &&
	    [ -s "$(suite_dir)/config.json" ]; then
		cat "$(suite_dir)/config.json"
		return
	fi
	compose config | python3 -c '
import json, sys, yaml
def unescape(v):
    if isinstance(v, str):
        return v.replace("$$", "$")
    if isinstance(v, list):
        return [unescape(x) for x in v]
    if isinstance(v, dict):
        return {k: unescape(x) for k, x in v.items()}
    return v
json.dump(unescape(yaml.safe_load(sys.stdin)), sys.stdout)'
}

# svc NAME JQ: JQ applied to that service's configuration.
svc() {
	config | jq -c ".services[\"$1\"] | $2"
}

# The wq services: those that run the wq image.
wq_services() {
	config | jq -r '.services | to_entries[] | select(.value.build) | .key'
}

# argv NAME: the service's command, one word per line (compose splits a
# string command like a shell).
argv() {
	config | python3 -c '
import json, shlex, sys
c = json.load(sys.stdin)["services"][sys.argv[1]]["command"]
print("\n".join(shlex.split(c) if isinstance(c, str) else c))' "$1"
}

# dockerfile: the Dockerfile as JSON: a list of stages, each with its
# base, name and instructions (continuation lines joined).
dockerfile() {
	python3 - "$DF" <<'EOF'
import json, re, sys
stages, text = [], open(sys.argv[1]).read()
text = re.sub(r"\\\n", " ", re.sub(r"(?m)^\s*#.*\n", "", text))
for line in text.splitlines():
    line = line.strip()
    if not line:
        continue
    op, _, arg = line.partition(" ")
    op = op.upper()
    if op == "FROM":
        m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", arg, re.I)
        stages.append({"from": m.group(1), "as": m.group(2), "ins": []})
    elif stages:
        stages[-1]["ins"].append({"op": op, "arg": re.sub(r"\s+", " ", arg)})
json.dump(stages, sys.stdout)
EOF
}

# packages STAGE: the packages the stage's apt-get install names.
packages() {
	dockerfile | jq -r ".[$1].ins[] | select(.op==\"RUN\") | .arg" |
		sed -n 's/.*apt-get install \([^&]*\).*/\1/p' | tr ' ' '\n' |
		grep -v '^-' | grep .
}

@test "docker-compose accepts the file, and refuses it without REDIS_PASSWORD" {
	run compose config -q
	assert_success
	assert_output ""
	run env -u REDIS_PASSWORD docker-compose --project-directory "$WQ_SRCDIR" \
		-f "$WQ_SRCDIR/docker-compose.yml" config -q
	assert_failure
	assert_output --partial "set REDIS_PASSWORD"
}

@test "five services; Redis keeps an AOF, takes its password from the environment, publishes no port" {
	[ "$(config | jq -r '.services | keys | join(" ")')" = "api lb redis sysmon worker" ]
	[ "$(wq_services | tr '\n' ' ')" = "api sysmon worker " ]
	[[ "$(svc redis .image)" == '"redis:7'* ]]
	[ "$(svc redis .ports)" = null ]
	cmd=$(argv redis | tr '\n' ' ')
	[[ $cmd == *"redis-server --appendonly yes --appendfsync everysec"* ]]
	[[ $cmd == *'--requirepass "$REDIS_PASSWORD"'* ]]
	[ "$(svc redis .environment.REDIS_PASSWORD)" = "\"$PW\"" ]
	[ "$(svc redis '.volumes[0]' | tr -d '"')" = redis-data:/data:rw ]
	svc redis '.healthcheck.test | join(" ")' | grep -q 'redis-cli ping'
	# the password is in no command line Docker keeps
	run config
	assert_success
	[ "$(echo "$output" | jq "[.. | .command?, .test? | select(. != null) | tostring | select(contains(\"$PW\"))] | length")" = 0 ]
}

@test "the wq services reach Redis with the password, once Redis is healthy" {
	for s in $(wq_services); do
		[ "$(svc "$s" .environment.WQ_REDIS)" = "\"redis://:$PW@redis:6379/0\"" ]
		[ "$(svc "$s" .depends_on.redis.condition)" = '"service_healthy"' ]
		[ "$(svc "$s" .build.dockerfile)" = '"deploy/Dockerfile"' ]
		[ "$(svc "$s" .init)" = true ]
	done
	# and the URL is one wq takes, password and all
	run env WQ_REDIS="redis://:$PW@127.0.0.1:1/0" wq-status --list pending
	assert_failure 3
	refute_output --partial "$PW"
}

@test "api and worker scale: no host port, no container name; lb publishes port 80" {
	for s in api worker; do
		[ "$(svc "$s" .ports)" = null ]
		[ "$(svc "$s" .container_name)" = null ]
	done
	[ "$(svc lb '.ports | length')" = 1 ]
	[ "$(svc lb '.ports[0].published')" = 80 ]
	# Docker refuses a second container on the same published port:
	# nothing else publishes one
	[ "$(config | jq '[.services[] | select(.ports)] | length')" = 1 ]
	# the worker's stop grace outlasts wq-worker's default --grace (30 s)
	grace=$(svc worker .stop_grace_period | tr -d '"s')
	[ "$grace" -gt 30 ]
	wq-worker --help | grep -q -- '--grace S .*(default 30)' ||
		wq-worker --help | grep -A1 -- '--grace S' | grep -q '(default 30)'
}

@test "every WQ_ variable the compose file and the Dockerfile set is a wq setting" {
	vars=$( (config | jq -r '.services[].environment // {} | keys[]'
		dockerfile | jq -r '.[].ins[] | select(.op=="ENV") | .arg' |
		grep -o 'WQ_[A-Z_]*') | grep '^WQ_' | sort -u)
	[ -n "$vars" ]
	for v in $vars; do
		# a setting of every command, or one command's own (wq-api's
		# WQ_API_ALLOW_HOSTS) read where that command starts
		grep -q "{ \"$v\", WQ_OPT_" "$WQ_SRCDIR/lib/settings.c" ||
		grep -rq "getenv(\"$v\")" "$WQ_SRCDIR/kore-api" \
		    "$WQ_SRCDIR/cmd" || {
			echo "$v is not a setting wq reads" >&2
			return 1
		}
	done
	# each setting the file's header documents is used in the file
	doc=$(sed -n '/^# Settings,/,/^#$/p' "$WQ_SRCDIR/docker-compose.yml" |
		grep -o 'WQ_[A-Z_]*' | sort -u)
	[ "$(echo "$doc" | wc -l)" -ge 8 ]
	for v in $doc; do
		grep -q -e "\${$v" -e "^ *$v:" "$WQ_SRCDIR/docker-compose.yml" || {
			echo "$v is documented but not used" >&2
			return 1
		}
	done
	# and an empty one is no setting at all: the wq services start
	# with wq's defaults
	run env WQ_TTL= WQ_QUEUE= WQ_NAMESPACE= WQ_MAX_DATA= WQ_TOKEN= wq-status --list pending
	assert_success
}

@test "every command the compose file and the Dockerfile run is built, and takes the flags given" {
	progs=$(sed -n '/^bin_PROGRAMS/,/^[^	]*$/p; /^bin_PROGRAMS +=/p; /^bin_SCRIPTS/p' \
		"$WQ_SRCDIR/Makefile.am" | grep -o 'cmd/[a-z-]*' | sed 's|cmd/||' | sort -u)
	[ -n "$progs" ]
	check() {
		local prog=$1 f
		shift
		echo "$progs" | grep -qx "$prog" || {
			echo "$prog is not built by Makefile.am" >&2
			return 1
		}
		for f in "$@"; do
			case $f in --*) ;; *) continue ;; esac
			"$prog" --help | grep -q -- "${f%%=*}\b" || {
				echo "$prog --help does not know $f" >&2
				return 1
			}
		done
	}
	for s in $(wq_services); do
		mapfile -t words < <(argv "$s")
		check "${words[@]}"
	done
	# the worker's default, and the example of WQ_WORKER_ARGS the file gives
	[ "$(argv worker | tr '\n' ' ')" = "wq-worker --sleep 1 " ]
	example=$(sed -n 's/^#  *e\.g\. "\(.*\)"$/\1/p' "$WQ_SRCDIR/docker-compose.yml")
	[ -n "$example" ]
	CENV=(WQ_WORKER_ARGS="$example")
	mapfile -t words < <(argv worker)
	[ "${words[*]}" = "wq-worker $example" ]
	check "${words[@]}"
	CENV=()
	mapfile -t words < <(dockerfile | jq -r '.[-1].ins[] | select(.op=="CMD") | .arg | fromjson[]')
	check "${words[@]}"
	[ "$(argv api | tr '\n' ' ')" = "wq-api --listen 0.0.0.0:8080 --workers 2 --insecure-no-token " ]
	[ "$(argv sysmon | sed -n 1,2p | tr '\n' ' ')" = "wq-peers --watch " ]
}

@test "the API's port is the one HAProxy's servers use, and haproxy accepts deploy/haproxy.cfg" {
	cfg="$WQ_SRCDIR/deploy/haproxy.cfg"
	[ -f "$cfg" ]
	port=$(argv api | sed -n 's/^0\.0\.0\.0:\([0-9]*\)$/\1/p')
	[ "$port" = 8080 ]
	[ "$(svc api '.expose[0]')" = '"8080"' ]
	svc api '.healthcheck.test | join(" ")' | grep -q "127.0.0.1:$port/healthz"
	servers=$(grep -E '^\s*(server|server-template)\s' "$cfg")
	[ -n "$servers" ]
	echo "$servers" | grep -o '[^ ]*:[0-9][0-9]*' | grep -v "^api:$port\$" && return 1
	binds=$(grep -E '^\s*bind\s' "$cfg" | grep -o ':[0-9][0-9]*' | tr -d :)
	echo "$binds" | grep -qx "$(svc lb '.ports[0].target')"
	[ "$(svc lb '.volumes[0]' | tr -d '"')" = "$cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" ]
	haproxy -c -q -f "$cfg"
}

@test "the Dockerfile builds on debian:12 with the project's build packages, runs on Debian 12's libraries" {
	[ "$(dockerfile | jq -r '.[0].from + " " + .[0].as')" = "debian:12 build" ]
	[ "$(dockerfile | jq -r '.[-1].from')" = "debian:12-slim" ]
	deps=$(sed -n '/^pkgs="/,/"$/p' "$WQ_SRCDIR/scripts/deps" | tr -d '"' | sed 's/pkgs=//')
	for p in $(packages 0); do
		echo "$deps" | tr ' ' '\n' | grep -qx "$p" || {
			echo "$p is not in scripts/deps" >&2
			return 1
		}
	done
	[ -n "$(packages -1)" ]
	for p in $(packages -1); do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || {
			echo "$p: not a Debian 12 package installed here" >&2
			return 1
		}
	done
	# the runtime stage runs as an unprivileged user
	[ "$(dockerfile | jq -r '.[-1].ins[] | select(.op=="USER") | .arg')" = wq ]
}

# closure PKGS...: those packages and all they depend on, installed here,
# plus what debian:12-slim has (the "required" packages).
closure() {
	python3 - "$@" <<'EOF'
import re, subprocess, sys
def q(fmt, *pkgs):
    return subprocess.run(["dpkg-query", "-W", "-f=" + fmt] + list(pkgs),
                          capture_output=True, text=True).stdout
installed = {}
for l in q("${Package} ${Priority} ${Status}\n").splitlines():
    f = l.split()
    if l.endswith("ok installed"):
        installed[f[0]] = f[1]
seen = {p for p, prio in installed.items() if prio == "required"}
todo = list(sys.argv[1:])
while todo:
    p = todo.pop()
    if p in seen or p not in installed:
        continue
    seen.add(p)
    deps = q("${Depends}, ${Pre-Depends}", p)
    for alt in deps.split(","):
        for d in alt.split("|"):
            d = re.sub(r"\(.*?\)|:any|:\w+", "", d).strip()
            if d:
                todo.append(d)
print("\n".join(sorted(seen)))
EOF
}

# owner FILE: the Debian package that ships the library.
owner() {
	local f c p
	f=$(readlink -f "$1")
	for c in "$1" "$f" "${f#/usr}"; do
		p=$(dpkg -S "$c" 2>/dev/null | sed -n '1s/:.*//p')
		[ -n "$p" ] && { echo "$p"; return 0; }
	done
	return 1
}

@test "the Dockerfile's build steps build and install wq from a copy of this tree" {
	src="$(suite_dir)/src"
	out="$(suite_dir)/out"
	mkdir -p "$src"
	(cd "$WQ_SRCDIR" && tar --exclude=./.git --exclude=./run --exclude=./tests/out \
		--exclude=./fuzz/build -cf - .) |
		tar -xf - -C "$src"
	# the build stage's steps after COPY, as Docker runs them (sh -c),
	# installing under $out instead of /out
	dockerfile | jq -r '.[0].ins | (map(.op) | index("COPY")) as $c |
		.[$c + 1:][] | select(.op=="RUN") | .arg' >"$src.steps"
	[ "$(wc -l <"$src.steps")" -ge 2 ]
	grep -q 'DESTDIR=/out' "$src.steps"
	while read -r step; do
		(cd "$src" && sh -c "${step//DESTDIR=\/out/DESTDIR=$out}") >>"$src.log" 2>&1 || {
			tail -20 "$src.log" >&2
			return 1
		}
	done <"$src.steps"
	# the runtime stage copies what the build stage installed, and kore
	prefix=$(grep -o -- '--prefix=[^ ]*' "$src.steps" | cut -d= -f2)
	dockerfile | jq -r '.[-1].ins[] | select(.op=="COPY") | .arg' >"$src.copies"
	grep -qx -- "--from=build /out$prefix/ $prefix/" "$src.copies"
	grep -qx -- "--from=build /usr/bin/kore /usr/bin/kore" "$src.copies"
	bin="$out$prefix/bin"
	# every command the compose file and the image run is installed
	for s in $(wq_services); do
		[ -x "$bin/$(argv "$s" | sed -n 1p)" ]
	done
	# wq-api runs the kore the runtime stage has, with the installed module
	grep -q /usr/bin/kore "$bin/wq-api"
	grep -q "$prefix/lib/wq/wq-api.so" "$bin/wq-api"
	[ -f "$out$prefix/lib/wq/wq-api.so" ]
	# the installed programs work: a worker runs a job, the API answers
	id=$(wq-submit built | jq -r .callback)
	start w "$bin/wq-worker" --sleep 0
	run "$bin/wq-status" --wait --timeout 20 --jq .status "$id"
	assert_output '"worked"'
	p=$(free_port)
	WQ_API_MODULE="$out$prefix/lib/wq/wq-api.so" start api "$bin/wq-api" \
		--listen "127.0.0.1:$p" --workers 1
	wait_for 20 curl -fs "http://127.0.0.1:$p/healthz"
	# the runtime packages bring every shared library they load
	have=$(closure $(packages -1))
	for f in "$bin"/* "$out$prefix/lib/wq/wq-api.so" /usr/bin/kore; do
		cmp -s -n 4 "$f" /bin/true || continue
		for lib in $(ldd "$f" | grep -o '/[^ ]*\.so[^ ]*'); do
			pkg=$(owner "$lib") || { echo "no package ships $lib" >&2; return 1; }
			echo "$have" | grep -qx "$pkg" || {
				echo "$f needs $lib from $pkg, not in the runtime stage" >&2
				return 1
			}
		done
	done
}

@test "deploy/redis-tls-client.cfg carries wq's connections to Redis over TLS, checking the name" {
	d="$(suite_dir)/tls"
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=wq-test-ca \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=redis.internal \
		-keyout "$d/redis.key" -out "$d/redis.csr" 2>/dev/null
	echo 'subjectAltName=DNS:redis.internal' >"$d/ext"
	openssl x509 -req -in "$d/redis.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/ext" -out "$d/redis.crt" 2>/dev/null
	tp=$(free_port)
	# (3>&-: the daemon must not hold the test's output open)
	redis_start tls --bind 127.0.0.1 --tls-port "$tp" --tls-auth-clients no \
		--tls-cert-file "$d/redis.crt" --tls-key-file "$d/redis.key" \
		--tls-ca-cert-file "$d/ca.crt" 3>&-
	lp=$(free_port)
	export WQ_REDIS_LOCAL_PORT=$lp REDIS_TLS_ADDR=127.0.0.1:$tp \
		REDIS_CA_FILE="$d/ca.crt" REDIS_TLS_NAME=redis.internal
	cfg="$WQ_SRCDIR/deploy/redis-tls-client.cfg"
	haproxy -c -q -f "$cfg"
	start tlsproxy haproxy -f "$cfg"
	wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$lp"
	run env WQ_REDIS="redis://127.0.0.1:$lp/0" wq-submit over-tls
	assert_success
	id=$(echo "$output" | jq -r .callback)
	[ "$(redis-cli -s "$(suite_dir)/tls.sock" hget "wq:job:$id" s)" = pending ]
	run env WQ_REDIS="redis://127.0.0.1:$lp/0" wq-status --jq .status "$id"
	assert_output '"pending"'
	# plain TCP to the TLS port gets nowhere
	run env WQ_REDIS="redis://127.0.0.1:$tp/0" wq-submit plain
	assert_failure 3
	# a server whose certificate does not carry the name is refused
	kill "$(pid_of tlsproxy)"
	wait_for 20 bash -c "! exec 3<>/dev/tcp/127.0.0.1/$lp"
	REDIS_TLS_NAME=other.internal start tlsproxy2 haproxy -f "$cfg"
	wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$lp"
	run env WQ_REDIS="redis://127.0.0.1:$lp/0" wq-submit wrong-name
	assert_failure 3
	[ "$(redis-cli -s "$(suite_dir)/tls.sock" --scan --pattern 'wq:job:*')" = "wq:job:$id" ]
}

@test "Sentinel, as deploy/README.md sets it up: wq with a password follows a failover" {
	d=$(suite_dir)
	a=$(free_port)
	b=$(free_port)
	s=$(free_port)
	redis_start ma --bind 127.0.0.1 --port "$a" --requirepass pw-s \
		--masterauth pw-s 3>&-
	redis_start mb --bind 127.0.0.1 --port "$b" --requirepass pw-s \
		--masterauth pw-s --replicaof 127.0.0.1 "$a" 3>&-
	cat >"$d/sentinel.conf" <<EOC
port $s
bind 127.0.0.1
daemonize yes
pidfile $d/sentinel.pid
logfile $d/sentinel.log
dir $d
sentinel monitor wq 127.0.0.1 $a 1
sentinel auth-pass wq pw-s
sentinel down-after-milliseconds wq 1000
sentinel failover-timeout wq 10000
EOC
	redis-sentinel "$d/sentinel.conf" 3>&-
	wait_for 20 redis-cli -p "$s" sentinel get-master-addr-by-name wq
	export WQ_REDIS="redis-sentinel://127.0.0.1:$s/wq?password=pw-s"
	id=$(wq-submit before | jq -r .callback)
	[ "$(redis-cli -p "$a" -a pw-s --no-auth-warning hget "wq:job:$id" s)" = pending ]
	start w wq-worker --sleep 0
	run wq-status --wait --timeout 20 --jq .status "$id"
	assert_output '"worked"'
	# the master dies; the Sentinel promotes the replica, wq follows
	kill -9 "$(cat "$d/ma.pid")"
	wait_for 30 sh -c "redis-cli -p $b -a pw-s --no-auth-warning role | head -1 | grep -qx master"
	wait_for 20 wq-submit after
	id2=$(echo -n after | md5sum | cut -c1-32 | tr a-f A-F)
	run wq-status --wait --timeout 20 --jq .status "$id2"
	assert_output '"worked"'
	[ "$(redis-cli -p "$b" -a pw-s --no-auth-warning hget "wq:job:$id2" s)" = worked ]
	run env WQ_REDIS="redis-sentinel://127.0.0.1:$s/wq?password=wrong" wq-submit x
	assert_failure 3
	refute_output --partial wrong
}

@test "deploy/docker-compose.cluster.yml: the wq services get the cluster's seeds, and nothing else changes" {
	base=$(config)
	CFILES=(-f "$WQ_SRCDIR/deploy/docker-compose.cluster.yml")
	run compose config -q
	assert_failure
	assert_output --partial "set WQ_REDIS_SEEDS"
	CENV=(WQ_REDIS_SEEDS=10.0.0.11:6379,10.0.0.12:6379)
	cfg=$(config)
	url="redis-cluster://:$PW@10.0.0.11:6379,10.0.0.12:6379"
	[ "$(echo "$cfg" | jq -r '.services | to_entries[] | select(.value.build) | .key' | tr '\n' ' ')" = "api sysmon worker " ]
	[ "$(echo "$cfg" | jq -r '[.services[] | select(.build) | .environment.WQ_REDIS] | unique[]')" = "$url" ]
	# the rest is docker-compose.yml's, but for WQ_REDIS
	strip='.services[].environment.WQ_REDIS? |= "-"'
	[ "$(echo "$cfg" | jq -S "$strip")" = "$(echo "$base" | jq -S "$strip")" ]
	# each setting the header documents is used in the file
	doc=$(sed -n '/^# Settings,/,/^$/p' "$WQ_SRCDIR/deploy/docker-compose.cluster.yml" |
		grep -o 'WQ_[A-Z_]*' | sort -u)
	[ "$doc" = WQ_REDIS_SEEDS ]
	# and the URL is one wq takes, password and all: not a usage error
	# (exit 2) but, on seeds that do not answer, exit 3
	run env WQ_REDIS="${url%@*}@127.0.0.1:1,127.0.0.1:2" wq-status --list pending
	assert_failure 3
	refute_output --partial "$PW"
}
