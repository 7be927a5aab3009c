#!/usr/bin/env bats
# docs: the man pages and the shell completions, checked against the
# commands themselves so that they cannot drift apart.  mandoc's lint is
# clean; every long option a command's --help prints is in its man page
# and in its bash and zsh completions, and every option a page documents
# is in --help; the completions offer the values the commands accept and
# the live queue and node names of a real worker on the suite's Redis.

load helpers
bats_require_minimum_version 1.5.0

CMDS="wq wq-submit wq-status wq-worker wq-peers wq-send wq-cluster wq-api"
CMDS="$CMDS wq-cron wq-cancel wq-retry wq-queue wq-events"

setup_file() {
	redis_start
	write_zcomp
}
teardown_file() { redis_stop; }
setup() { redis_flush; }
teardown() { stop_started; }

MAN=$WQ_SRCDIR/man

# help_opts CMD: the long options CMD's --help offers, one a line: those
# of its usage lines and of the lines that describe an option (not the
# ones its prose mentions, like wq-send's "a worker's --on handler").
help_opts() {
	"$1" --help | grep -E '^usage:|^[[:space:]]+(-|\[|wq)' |
	    grep -o -- '--[a-z][a-z0-9-]*' | sort -u
}

# page_opts PAGE: the long options a page documents, in its .It Fl items
# (".It Fl -all" is --all).
page_opts() {
	grep '^\.It Fl' "$1" | grep -o 'Fl -[a-z][a-z0-9-]*' |
	    sed 's/^Fl /-/' | sort -u
}

# only_in A B: the lines of A that B lacks ("" when none).
only_in() {
	comm -23 <(printf '%s\n' "$1" | sort -u) <(printf '%s\n' "$2" | sort -u) |
	    grep -v '^$' || true
}

# bash_complete WORD...: what bash offers for the last WORD (the one
# being completed) after the others, one a line.
bash_complete() {
	(
		source "$WQ_SRCDIR/completions/wq.bash"
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		f=$(complete -p "$1" | sed 's/.*-F \([^ ]*\) .*/\1/')
		"$f" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf '%s\n' "${COMPREPLY[@]}"
	)
}

# The zsh side: an interactive zsh on a pty (zsh/zpty) with the
# completions on its fpath and compadd wrapped so that every match it is
# given is also written to a file; BUFFER and a TAB are typed, then a
# command that marks the end (after ^A^K, not ^U: the terminal may still
# be in canonical mode, where ^U would erase the typed-ahead line).
write_zcomp() {
	cat >"$(suite_dir)/zcomp.zsh" <<'EOF'
zmodload zsh/zpty || exit 3
hits=$WQ_ZHITS
zpty z zsh -f -i
zpty -w z "PS1='' RPROMPT='' LISTMAX=100000; bindkey -e; fpath=(${(q)WQ_SRCDIR}/completions \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z "compadd () { local -a h; builtin compadd -O h \"\$@\"; print -r -- \$h >>${(q)hits}; builtin compadd \"\$@\"; }"
zpty -n -w z "$1"$'\t\C-a\C-k'"print -r -- END-OF-MATCHES >>${(q)hits}"$'\n'
for i in {1..1200}; do
	grep -qx END-OF-MATCHES $hits 2>/dev/null && break
	sleep 0.05
done
zpty -d z
grep -qx END-OF-MATCHES $hits
EOF
}

# zsh_complete BUFFER: what zsh offers at the end of BUFFER, one a line.
zsh_complete() {
	local hits
	hits=$(mktemp "$(suite_dir)/zhits.XXXXXX")
	WQ_ZHITS=$hits WQ_SRCDIR=$WQ_SRCDIR zsh -f "$(suite_dir)/zcomp.zsh" "$1" \
	    >/dev/null 2>&1 || { echo "zsh did not finish completing '$1'" >&2; return 1; }
	tr ' ' '\n' <"$hits" | grep -v -e '^$' -e '^END-OF-MATCHES$' | sort -u
}

# start_node NAME [WORKER OPTIONS]: a worker named NAME (work: --sleep 0
# unless the options say), once it is a member of the cluster.
start_node() {
	local name=$1 ns=wq a
	shift
	[[ " $* " == *" --exec "* || " $* " == *" --jq "* ]] || set -- --sleep 0 "$@"
	for a in "$@"; do
		[[ $a == --namespace=* ]] && ns=${a#*=}
	done
	[[ " $* " == *" --namespace "* ]] && ns=$(printf '%s\n' "$@" |
	    sed -n '/^--namespace$/{n;p;}')
	start "$name" wq-worker --quiet --name "$name" "$@"
	wait_for 20 sh -c "wq-peers --namespace $ns | grep -q '\"name\":\"$name\"'"
}

# --- man pages --------------------------------------------------------------

@test "mandoc -T lint -W warning is silent on every page" {
	ls "$MAN"/*.1 "$MAN"/*.7
	run mandoc -T lint -W warning "$MAN"/*.1 "$MAN"/*.7
	assert_success
	assert_output ''
}

@test "every command has a page in section 1, and wq(7) exists" {
	for c in $CMDS; do
		[ -s "$MAN/$c.1" ] || { echo "no man/$c.1"; return 1; }
		grep -q "^\.Dt $(echo "$c" | tr a-z A-Z) 1$" "$MAN/$c.1" ||
		    { echo "man/$c.1: .Dt is not $c 1"; return 1; }
	done
	[ -s "$MAN/wq.7" ]
}

@test "Makefile.am installs exactly the pages in man/" {
	listed=$(sed -n '/^dist_man[17]_MANS/,/^[^\t]/p' "$WQ_SRCDIR/Makefile.am" |
	    grep -o 'man/[a-z0-9.-]*' | sort)
	present=$(cd "$WQ_SRCDIR" && ls man/*.[17] | sort)
	echo "listed: $listed"
	echo "present: $present"
	[ "$listed" = "$present" ]
}

@test "every long option of --help is in the command's man page" {
	bad=
	for c in $CMDS; do
		missing=$(only_in "$(help_opts "$c")" "$(page_opts "$MAN/$c.1")")
		[ -z "$missing" ] || bad="$bad $c:$(echo $missing | tr ' ' ',')"
	done
	echo "documented nowhere:$bad"
	[ -z "$bad" ]
}

@test "every option a section-1 page documents is in --help" {
	bad=
	for c in $CMDS; do
		# --help and --version: every command takes them (next test)
		extra=$(only_in "$(page_opts "$MAN/$c.1")" \
		    "$(help_opts "$c"; printf '%s\n' --help --version)")
		[ -z "$extra" ] || bad="$bad $c:$(echo $extra | tr ' ' ',')"
	done
	echo "not in --help:$bad"
	[ -z "$bad" ]
}

@test "every command answers --help and --version" {
	for c in $CMDS; do
		run "$c" --help
		assert_success
		assert_output --partial "usage: $c"
		run "$c" --version
		assert_success
		assert_output --regexp "^$c [0-9]+\.[0-9]+"
	done
}

@test "every setting of --help is in the page's ENVIRONMENT and in wq(7)" {
	env_of() { sed -n '/^\.Sh ENVIRONMENT/,/^\.Sh /p' "$1"; }
	for c in $CMDS; do
		for v in $("$c" --help | grep -o 'WQ_[A-Z_]*' | sort -u); do
			env_of "$MAN/$c.1" | grep -q "Ev $v\b" ||
			    { echo "$c.1: no $v"; return 1; }
		done
	done
	for v in $(wq-submit --help | grep -o 'WQ_[A-Z_]*' | sort -u); do
		env_of "$MAN/wq.7" | grep -q "Ev $v\b" || { echo "wq.7: no $v"; return 1; }
	done
}

@test "the pages refer only to wq pages that exist" {
	for ref in $(cat "$MAN"/*.[17] | grep -o '^\.Xr wq[a-z-]* [17]' |
	    sed 's/^\.Xr //; s/ /./' | sort -u); do
		[ -f "$MAN/$ref" ] || { echo "no page $ref"; return 1; }
	done
}

@test "wq(7) names every command and shows the pipelines" {
	for c in $CMDS; do
		grep -q "^\.Xr $c 1" "$MAN/wq.7" || { echo "wq.7: no $c"; return 1; }
	done
	grep -q 'seq 1000 | wq-submit --lines | wq-status --wait' "$MAN/wq.7"
	grep -q 'id=$(wq-submit foo | jq -r .callback)' "$MAN/wq.7"
	grep -q 'wq-peers | jq -r .name | xargs' "$MAN/wq.7"
}

@test "the pipelines of wq(7) work as written" {
	start_node docs-w1 --exec 'tr a-z A-Z'
	run sh -c 'seq 5 | wq-submit --lines | wq-status --wait --timeout 20 --jq .status'
	assert_success
	[ "$(echo "$output" | grep -c '"worked"')" = 5 ]
	run sh -c 'id=$(wq-submit foo | jq -r .callback); wq-status --wait --timeout 20 "$id" --jq .result'
	assert_success
	assert_output '"FOO"'
	run sh -c 'wq-peers | jq -r .name | xargs -n1 wq-send ping'
	assert_success
	assert_output --partial '"type":"pong"'
	run sh -c 'wq-peers | wq-send - ping'
	assert_success
	assert_output --partial '"from":"docs-w1"'
}

# --- bash completion ----------------------------------------------------------

@test "bash: wq.bash registers a completion for every command" {
	source "$WQ_SRCDIR/completions/wq.bash"
	run complete -p wq-submit
	assert_success
	assert_output 'complete -F _wq_cmd wq-submit'
	for c in $CMDS; do
		complete -p "$c" >/dev/null || { echo "no completion for $c"; return 1; }
	done
}

@test "bash: the options offered are exactly those of --help" {
	for c in $CMDS; do
		[ "$c" = wq ] && continue
		if [ "$c" = wq-cluster ]; then
			offered=$(for v in '' up status env scale logs down; do
				bash_complete wq-cluster $v --
			done | grep -- '^--' | sort -u)
		else
			offered=$(bash_complete "$c" -- | grep -- '^--' | sort -u)
		fi
		want=$(help_opts "$c")
		if [ "$c" = wq-cluster ]; then
			want=$(printf '%s\n' "$want" --help --version)
		fi
		echo "$c: offered but not in --help: $(only_in "$offered" "$want")"
		echo "$c: in --help but not offered: $(only_in "$want" "$offered")"
		[ "$(echo "$offered" | sort -u)" = "$(echo "$want" | sort -u)" ]
	done
}

@test "bash: wq offers the commands of wq --help, then theirs" {
	want=$(wq --help | sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p' | sort)
	offered=$(bash_complete wq '' | grep -v -e '^-' -e '^help$' | sort)
	[ -n "$want" ]
	[ "$offered" = "$want" ]
	run bash_complete wq status --lis
	assert_output -- --list
	run bash_complete wq status --list d
	assert_output "$(printf 'delayed\ndead')"
}

@test "bash: --redis offers the URL schemes wq accepts, and each parses" {
	local u
	run bash_complete wq-submit --redis ''
	assert_output "$(printf '%s\n' redis:// unix:// redis-sentinel:// redis-cluster://)"
	# each scheme the completion offers is one that --redis takes
	# (unreachable: exit 3, not 2)
	for u in redis://127.0.0.1:1/0 unix:///nonexistent.sock \
	    redis-sentinel://127.0.0.1:1/m redis-cluster://127.0.0.1:1; do
		run -3 wq-status --redis "$u" C4CA4238A0B923820DCC509A6F75849B
	done
}

@test "bash: --list offers the states wq-status accepts" {
	run bash_complete wq-status --list ''
	assert_output "$(printf '%s\n' pending delayed working failed dead)"
	for s in $output; do
		run wq-status --list "$s"
		assert_success
	done
	run wq-status --list bogus
	assert_failure 2
	run bash_complete wq-status --list = w
	assert_output working
}

@test "bash: --log offers the formats wq-worker accepts" {
	run bash_complete wq-worker --log ''
	assert_output "$(printf 'text\njson')"
	for f in $output; do
		run wq-worker --log "$f" --help
		assert_success
	done
	run wq-worker --log yaml --help
	assert_failure 2
}

@test "bash: wq-send offers the live nodes, then the message types" {
	start_node docs-node-1
	run bash_complete wq-send ''
	assert_line docs-node-1
	assert_line -- -
	run bash_complete wq-send docs-node-1 ''
	assert_output "$(printf 'ping\ninfo\ndrain')"
	run bash_complete wq-send --timeout 2 docs-n
	assert_output docs-node-1
	run bash_complete wq-send --all ''
	assert_output "$(printf 'ping\ninfo\ndrain')"
	run bash_complete wq send ''
	assert_line docs-node-1
	# the types are those a node answers
	run wq-send docs-node-1 info
	assert_success
	assert_output --partial '"type":"info"'
}

@test "bash: --queue offers the queues submitted to and those workers take" {
	start_node docs-qw --queue docs-q1
	wq-submit --queue docs-q2 x >/dev/null
	run bash_complete wq-worker --queue ''
	assert_line docs-q1
	assert_line docs-q2
	run bash_complete wq-submit --queue docs-q
	assert_output "$(printf 'docs-q1\ndocs-q2')"
}

@test "bash: the names come from the --redis and --namespace of the line" {
	start_node docs-ns-node --namespace docsns
	run bash_complete wq-send ''
	refute_line docs-ns-node
	run bash_complete wq-send --namespace docsns ''
	assert_line docs-ns-node
	# --redis on the line wins over the environment, and WQ_API (which
	# wq-peers refuses) does not get in the way
	WQ_API=http://127.0.0.1:1 WQ_REDIS=redis://127.0.0.1:1/0 \
	    run bash_complete wq-send --redis "unix://$WQ_TEST_SOCK" \
	    --namespace=docsns ''
	assert_line docs-ns-node
}

@test "bash: an unreachable Redis offers nothing, quietly and at once" {
	# at once: the completion never waits for Redis to come back (the
	# monitor it reads queues from would, for good: 124 from timeout)
	export -f bash_complete
	t0=$(now_ms)
	WQ_REDIS="unix://$(suite_dir)/nothing.sock" run --separate-stderr \
	    timeout -k 5 60 bash -c "WQ_SRCDIR='$WQ_SRCDIR'; bash_complete wq-send ''"
	echo "took $(( $(now_ms) - t0 )) ms"
	assert_success
	assert_output -- -
	[ -z "$stderr" ]
	t0=$(now_ms)
	WQ_REDIS="unix://$(suite_dir)/nothing.sock" run --separate-stderr \
	    timeout -k 5 60 bash -c "WQ_SRCDIR='$WQ_SRCDIR'; bash_complete wq-worker --queue ''"
	echo "took $(( $(now_ms) - t0 )) ms"
	assert_success
	assert_output ''
	[ -z "$stderr" ]
}

@test "bash: wq-cluster offers its verbs, scale counts and log names" {
	run bash_complete wq-cluster ''
	assert_output "$(printf '%s\n' up status env scale logs down)"
	run bash_complete wq-cluster scale ''
	assert_output "$(printf 'worker=\napi=')"
	mkdir -p "$(suite_dir)/run/logs"
	touch "$(suite_dir)/run/logs/redis.log" "$(suite_dir)/run/logs/worker-1.log"
	run bash_complete wq-cluster logs --dir "$(suite_dir)/run" ''
	assert_output "$(printf 'redis\nworker-1')"
	# without --dir, the default run directory wq-cluster uses
	mkdir -p "$(suite_dir)/xdg/wq-cluster/logs"
	touch "$(suite_dir)/xdg/wq-cluster/logs/api-1.log"
	WQ_RUN_DIR= XDG_RUNTIME_DIR="$(suite_dir)/xdg" run bash_complete wq-cluster logs ''
	assert_output api-1
	WQ_RUN_DIR= XDG_RUNTIME_DIR="$(suite_dir)/xdg" run wq-cluster logs api-1
	assert_success
}

# --- zsh completion -----------------------------------------------------------

@test "zsh: _wq parses and compdefs every command" {
	run zsh -n "$WQ_SRCDIR/completions/_wq"
	assert_success
	run zsh -f -c "fpath=($WQ_SRCDIR/completions \$fpath); autoload -U compinit
	    compinit -u -D; for c in $CMDS; do print -r -- \$c=\$_comps[\$c]; done"
	assert_success
	for c in $CMDS; do
		assert_line "$c=_wq"
	done
}

@test "zsh: the options offered are exactly those of --help" {
	for c in $CMDS; do
		[ "$c" = wq ] && continue
		if [ "$c" = wq-cluster ]; then
			offered=$(for v in '' up status env scale logs down; do
				zsh_complete "wq-cluster $v --"
			done | grep -- '^--' | sort -u)
		else
			offered=$(zsh_complete "$c --" | grep -- '^--' | sort -u)
		fi
		want=$(help_opts "$c")
		if [ "$c" = wq-cluster ]; then
			want=$(printf '%s\n' "$want" --help --version)
		fi
		echo "$c: offered but not in --help: $(only_in "$offered" "$want")"
		echo "$c: in --help but not offered: $(only_in "$want" "$offered")"
		[ "$(echo "$offered" | sort -u)" = "$(echo "$want" | sort -u)" ]
	done
}

@test "zsh: states, formats, live nodes and queues" {
	start_node docs-znode --queue docs-zq
	run zsh_complete 'wq-status --list '
	assert_output "$(printf '%s\n' pending delayed working failed dead | sort)"
	run zsh_complete 'wq-worker --log='
	assert_output "$(printf 'json\ntext')"
	run zsh_complete 'wq-send '
	assert_line docs-znode
	run zsh_complete 'wq-send docs-znode '
	assert_output "$(printf '%s\n' drain info ping)"
	run zsh_complete 'wq-worker --queue '
	assert_line docs-zq
	run zsh_complete 'wq sen'
	assert_output send
	run zsh_complete 'wq send docs-zn'
	assert_output docs-znode
}
