# wq.bash -- bash completion for wq and its commands: wq-submit, wq-status,
# wq-worker, wq-peers, wq-send, wq-cluster, wq-api, wq-cron, wq-cancel,
# wq-retry, wq-queue, wq-events, and the dispatcher wq.
#
# The options come from the tables below; tests/docs.bats checks them
# against each command's --help, so that the two cannot drift.  Queue and
# node names are read live from the cluster through wq-peers, with the
# --redis and --namespace given on the line, without stdin or stderr and
# within two seconds: a Redis that is down or slow offers nothing, it
# never breaks or hangs the prompt.  Installed once per command name
# (bash-completion loads completions by name), so the file may be sourced
# many times; it only defines functions and tables.

_wq_common_args='--redis --api --token --namespace --queue --ttl --name --max-data --partitions'
_wq_common_flags='-h --help --version'

# Options that take a value, and options that do not, per command.
declare -gA _wq_args=(
	[wq-submit]='--key --timeout --max-attempts --traceparent --in --at
		--priority --group --max-queues --after --events --wait-replicas
		--wait-timeout'
	[wq-status]='--timeout --jq --list --limit'
	[wq-worker]='--exec --jq --sleep --concurrency --timeout --max-attempts
		--backoff --heartbeat --node-timeout --batch --grace --on
		--handler-timeout --log --events --wait-replicas --wait-timeout'
	[wq-peers]='--interval'
	[wq-send]='--timeout'
	[wq-api]='--listen --workers --max-body --allow-host --insecure-no-token
		--max-queues --events --wait-replicas --wait-timeout'
	[wq-cron]='--tz --catch-up --timeout --max-attempts'
	[wq-cancel]=''
	[wq-retry]=''
	[wq-queue]='--concurrency --rate --group-concurrency'
	[wq-events]='--since --jq'
	[wq-cluster]='--dir --workers --api --port --lb-port --token --sleep
		--exec --jq --concurrency --grace --redis-cluster --replicas'
)
declare -gA _wq_flags=(
	[wq-submit]='--lines --json --all-or-nothing'
	[wq-status]='--wait --progress'
	[wq-worker]='--quiet'
	[wq-peers]='--all --watch --table'
	[wq-send]='--all --no-wait --json'
	[wq-api]=''
	[wq-cron]='--json'
	[wq-cancel]=''
	[wq-retry]='--all'
	[wq-queue]='--yes --clear'
	[wq-events]='-f --follow'
	[wq-cluster]='--lb -f'
)
# wq-cluster's options, by what they go with.
declare -gA _wq_cluster_opts=(
	[up]='--dir --workers --api --lb --port --lb-port --token --sleep
		--exec --jq --concurrency --redis-cluster --replicas'
	[status]='--dir'
	[env]='--dir'
	[scale]='--dir'
	[logs]='-f --dir'
	[down]='--grace --dir'
)
_wq_commands='submit status worker peers send cluster api cron cancel retry
	queue events help'
_wq_cluster_verbs='up status env scale logs down'
_wq_states='pending delayed working failed dead'
_wq_msg_types='ping info drain'
_wq_cron_verbs='add ls rm pause resume'
_wq_queue_verbs='ls pause resume purge limit'
_wq_cron_specs='@every @hourly @daily @weekly @monthly @yearly'

# _wq_takes_arg CMD OPT: true if OPT of CMD takes a value.
_wq_takes_arg() {
	local o
	[[ $1 == wq-cluster ]] || for o in $_wq_common_args; do
		[[ $o == "$2" ]] && return 0
	done
	for o in ${_wq_args[$1]}; do
		[[ $o == "$2" ]] && return 0
	done
	return 1
}

# _wq_options CMD: every option of CMD.
_wq_options() {
	if [[ $1 == wq-cluster ]]; then
		echo "${_wq_args[$1]} ${_wq_flags[$1]} $_wq_common_flags"
	else
		echo "${_wq_args[$1]} ${_wq_flags[$1]} $_wq_common_args" \
		    "$_wq_common_flags"
	fi
}

# _wq_setting OPT: the value of --redis or --namespace on the line, as
# --opt=value, or nothing.  Read from COMP_LINE, split on blanks only:
# bash splits a URL into several COMP_WORDS at its colons.
_wq_setting() {
	local -a w
	local i v
	read -ra w <<<"${COMP_LINE:-${COMP_WORDS[*]}}"
	for ((i = 1; i < ${#w[@]}; i++)); do
		case ${w[i]} in
		"$1") v=${w[i + 1]-} ;;
		"$1"=*) v=${w[i]#*=} ;;
		*) continue ;;
		esac
		v=${v#[\"\']}
		v=${v%[\"\']}
		[[ -n $v ]] && printf '%s=%s\n' "$1" "$v"
	done
}

# _wq_live CMD ARGS...: run a wq command for completion.  WQ_API is
# dropped: the commands asked here read Redis and refuse the API.
_wq_live() {
	local -a t=() s=()
	command -v timeout >/dev/null 2>&1 && t=(timeout 2)
	mapfile -t s < <(_wq_setting --redis; _wq_setting --namespace)
	WQ_API= "${t[@]}" "$@" "${s[@]}" </dev/null 2>/dev/null
}

# The names of the live nodes.
_wq_nodes() {
	_wq_live wq-peers | grep -o '"name":"[^"\\]*"' |
	    sed 's/^"name":"//; s/"$//'
}

_wq_schedules() {
	_wq_live wq-cron ls | grep -o '^{"name":"[^"\\]*"' |
	    sed 's/^{"name":"//; s/"$//'
}

# The queues: those ever submitted to (one snapshot of the monitor, which
# stops by itself once head has its line) and those the nodes take from.
_wq_queues() {
	local snap
	snap=$(_wq_live wq-peers --watch --interval 0.1 | head -n 1)
	{
		grep -o '"[^"\\]*":{"pending"' <<<"$snap" |
		    sed 's/^"//; s/":{"pending"$//'
		grep -o '"queues":\[[^]]*\]' <<<"$snap" |
		    sed 's/^"queues":\[//; s/\]$//' | tr ',' '\n' |
		    sed 's/^"//; s/"$//'
	} | grep -v '^$' | sort -u
}

# The names of wq-cluster's logs, in the run directory of the line (its
# default as wq-cluster(1) chooses it).
_wq_cluster_logs() {
	local -a w
	local dir=${WQ_RUN_DIR:-} i f
	if [[ -z $dir && ${XDG_RUNTIME_DIR:-} == /* && -d $XDG_RUNTIME_DIR &&
	    -O $XDG_RUNTIME_DIR ]]; then
		dir=$XDG_RUNTIME_DIR/wq-cluster
	fi
	: "${dir:=${TMPDIR:-/tmp}/wq-cluster-${USER:-$(id -un 2>/dev/null)}}"
	read -ra w <<<"${COMP_LINE:-${COMP_WORDS[*]}}"
	for ((i = 1; i < ${#w[@]}; i++)); do
		case ${w[i]} in
		--dir) dir=${w[i + 1]-$dir} ;;
		--dir=*) dir=${w[i]#*=} ;;
		esac
	done
	for f in "$dir"/logs/*.log; do
		[[ -f $f ]] || continue
		f=${f##*/}
		echo "${f%.log}"
	done
}

_wq_reply() {
	mapfile -t COMPREPLY < <(compgen -W "$1" -- "$2")
}

_wq_nospace() {
	type compopt >/dev/null 2>&1 && compopt -o nospace 2>/dev/null
	return 0
}

# _wq_value CMD OPT CUR: complete the value of OPT.
_wq_value() {
	case $2 in
	--list) _wq_reply "$_wq_states" "$3" ;;
	--log) _wq_reply 'text json' "$3" ;;
	--queue) _wq_reply "$(_wq_queues)" "$3" ;;
	--redis)
		[[ $3 == *:* ]] && return
		_wq_reply 'redis:// unix:// redis-sentinel:// redis-cluster://' "$3"
		_wq_nospace
		;;
	--api) [[ $1 == wq-cluster ]] && return
		[[ $3 == *:* ]] && return
		_wq_reply 'http:// https://' "$3"
		_wq_nospace
		;;
	--exec) [[ $1 == wq-cluster || $1 == wq-worker ]] &&
		mapfile -t COMPREPLY < <(compgen -c -- "$3") ;;
	--dir) mapfile -t COMPREPLY < <(compgen -d -- "$3") ;;
	esac
}

# _wq_positional CMD N CUR: complete the Nth argument (from 0) of CMD.
_wq_positional() {
	local w
	case $1 in
	wq-send)
		for w in "${COMP_WORDS[@]}"; do
			[[ $w == --all ]] && { (($2 == 0)) && _wq_reply \
			    "$_wq_msg_types" "$3"; return; }
		done
		case $2 in
		0) _wq_reply "$(_wq_nodes) -" "$3" ;;
		1) _wq_reply "$_wq_msg_types" "$3" ;;
		esac
		;;
	wq-cron)
		case $2 in
		0) _wq_reply "$_wq_cron_verbs" "$3" ;;
		1) [[ $_wq_verb == add ]] || _wq_reply "$(_wq_schedules)" "$3" ;;
		2) [[ $_wq_verb == add ]] && _wq_reply "$_wq_cron_specs" "$3" ;;
		esac
		;;
	wq-queue)
		case $2 in
		0) _wq_reply "$_wq_queue_verbs" "$3" ;;
		1) [[ $_wq_verb == ls ]] || _wq_reply "$(_wq_queues)" "$3" ;;
		esac
		;;
	wq-cluster)
		if (($2 == 0)); then
			_wq_reply "$_wq_cluster_verbs" "$3"
			return
		fi
		case $_wq_verb in
		scale) _wq_reply 'worker= api=' "$3"; _wq_nospace ;;
		logs) (($2 == 1)) && _wq_reply "$(_wq_cluster_logs)" "$3" ;;
		esac
		;;
	esac
}

# The completion of the commands.
_wq_cmd() {
	local cmd=${COMP_WORDS[0]##*/} cur=${COMP_WORDS[COMP_CWORD]} prev=
	local opt i n w _wq_verb=
	COMPREPLY=()
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	[[ -n ${_wq_flags[$cmd]+set} ]] || return 0

	# --opt=value arrives as "--opt" "=" "value".
	opt=$prev
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
		opt=${COMP_WORDS[COMP_CWORD - 2]}
	elif [[ $cur == -*=* ]]; then
		return 0
	fi
	if _wq_takes_arg "$cmd" "$opt"; then
		_wq_value "$cmd" "$opt" "$cur"
		return 0
	fi

	# Count the arguments before this word, skipping options and values.
	n=0
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ $w == = ]]; then
			((i++))
		elif [[ $w == -* ]]; then
			[[ ${COMP_WORDS[i + 1]-} != = ]] &&
			    _wq_takes_arg "$cmd" "$w" && ((i++))
		else
			[[ $n == 0 && ($cmd == wq-cluster || $cmd == wq-cron ||
			    $cmd == wq-queue) ]] && _wq_verb=$w
			((n++))
		fi
	done

	if [[ $cur == -* ]]; then
		if [[ $cmd == wq-cluster && -n $_wq_verb ]]; then
			_wq_reply "${_wq_cluster_opts[$_wq_verb]} --help" "$cur"
		else
			_wq_reply "$(_wq_options "$cmd")" "$cur"
		fi
		return 0
	fi
	_wq_positional "$cmd" "$n" "$cur"
	return 0
}

# The dispatcher: its commands, then what the command completes.
_wq() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
		_wq_reply "$_wq_commands --help --version" "$cur"
		return 0
	fi
	local -a COMP_WORDS=("wq-${COMP_WORDS[1]}" "${COMP_WORDS[@]:2}")
	local COMP_CWORD=$((COMP_CWORD - 1))
	_wq_cmd
}

complete -F _wq wq
complete -F _wq_cmd wq-submit wq-status wq-worker wq-peers wq-send \
    wq-cluster wq-api wq-cron wq-cancel wq-retry wq-queue wq-events
