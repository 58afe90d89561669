# SPDX-License-Identifier: GPL-3.0-or-later
# bash completion for mailsync: its options, and the channel and group names
# of the configuration (-c FILE, or the default one).
# Install: copy to ~/.local/share/bash-completion/completions/mailsync, or
# source it from ~/.bashrc.

# The keys under channels: and groups: of a mailsync YAML file, one a line.
_mailsync_names()
{
	[ -r "$1" ] || return 0
	awk '
	/^[^[:space:]#]/ {
		sec = $0 ~ /^(channels|groups)[[:space:]]*:[[:space:]]*(#.*)?$/
		ind = -1
		next
	}
	sec && /^[[:space:]]+[^[:space:]#-]/ {
		match($0, /^[[:space:]]+/)
		if (ind < 0)
			ind = RLENGTH
		if (RLENGTH != ind)
			next
		key = substr($0, RLENGTH + 1)
		if (key ~ /^"/) {
			sub(/^"/, "", key)
			sub(/".*/, "", key)
		} else if (key ~ /^\047/) {
			sub(/^\047/, "", key)
			sub(/\047.*/, "", key)
		} else
			sub(/[[:space:]]*:.*/, "", key)
		print key
	}' "$1"
}

_mailsync()
{
	local cur prev cfg i w
	local opts="-a --all -c --config -l --list -n --dry-run -w --watch
	    --pull --push -v --verbose -q --quiet --debug --force --json
	    --verify --import-mbsyncrc -j --jobs -V --version -h --help"

	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	# "--config=FILE" arrives as three words: --config, =, FILE
	[ "$prev" = "=" ] && [ "$COMP_CWORD" -ge 2 ] &&
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	case $prev in
	-c | --config | --import-mbsyncrc)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
		;;
	esac
	case $cur in
	-*)
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return 0
		;;
	esac

	cfg=
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-c | --config)
			if [ "${COMP_WORDS[i + 1]}" = "=" ]; then
				cfg=${COMP_WORDS[i + 2]}
			else
				cfg=${COMP_WORDS[i + 1]}
			fi
			;;
		-c?*)
			cfg=${w#-c}
			;;
		esac
	done
	if [ -z "$cfg" ]; then
		case ${XDG_CONFIG_HOME:-} in
		/*) cfg=$XDG_CONFIG_HOME/mailsync/config.yaml ;;
		*) cfg=$HOME/.config/mailsync/config.yaml ;;
		esac
	fi
	case $cfg in
	"~"/*) cfg=$HOME/${cfg#"~/"} ;;
	esac
	COMPREPLY=($(compgen -W "$(_mailsync_names "$cfg")" -- "$cur"))
	return 0
}
complete -F _mailsync mailsync
