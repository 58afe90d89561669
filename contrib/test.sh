#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Set up a Debian 12 machine for mailsync, build it out of tree with -Werror
# and the sanitizers, run every test, and lint the man pages.
#
# usage: contrib/test.sh [--distcheck]   build and test (exit 0 when all pass)
#        contrib/test.sh --deps           only install missing packages
#        contrib/test.sh --packages       print the package list and exit
#
# Environment: BUILDDIR (default _build, relative to the source tree),
# CI=true makes the integration tests fail instead of skip without Dovecot.
set -eu

# The one list of Debian packages that building, testing and the demo need
# (.ci/run and contrib/demo.sh read it from here).  python3 and openssl serve
# the integration harness; isync (mbsync) is the reference implementation
# tests may compare against; procps gives tests ps and pgrep; strace injects
# the I/O errors and kills of the fault tests; clang and its runtime build
# the libFuzzer targets; neomutt, driven in tmux, is the real mail client
# of t61.
PACKAGES="build-essential autoconf automake libtool pkg-config
libetpan-dev libssl-dev libtokyocabinet-dev libyaml-dev zlib1g-dev
dovecot-core dovecot-imapd isync mandoc python3 openssl ca-certificates
procps strace clang libclang-rt-14-dev neomutt tmux"

say() { printf '==> %s\n' "$*"; }
die() { printf 'contrib/test.sh: %s\n' "$*" >&2; exit 1; }

missing_packages() {
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q 'install ok installed' || echo "$p"
	done
}

# Install what is missing when we can (root with apt-get); otherwise say
# what is missing and carry on: the build or the tests will tell.
install_deps() {
	command -v dpkg-query >/dev/null 2>&1 || return 0
	miss=$(missing_packages | tr '\n' ' ')
	[ -n "$miss" ] || return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing missing packages: $miss"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update
		# shellcheck disable=SC2086
		apt-get install -y --no-install-recommends $PACKAGES
	else
		say "warning: missing packages (run as root to install): $miss"
	fi
}

distcheck=no
case "${1:-}" in
--packages) printf '%s\n' "$PACKAGES" | tr '\n' ' ' | sed 's/ $/\n/'; exit 0 ;;
--deps) install_deps; exit 0 ;;
--distcheck) distcheck=yes ;;
"") ;;
*) die "unknown argument '$1' (try --distcheck, --deps, --packages)" ;;
esac

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cd "$srcdir"
install_deps

BUILDDIR=${BUILDDIR:-_build}
jobs=$(nproc 2>/dev/null || echo 2)

if [ ! -x configure ]; then
	say "./autogen.sh"
	./autogen.sh
fi
mkdir -p "$BUILDDIR"
cd "$BUILDDIR"
# Reconfigure unless this build dir already has exactly our switches, so a
# dir left by contrib/demo.sh (plain build) is turned into a checked one.
if [ ! -f Makefile ] ||
    ! ./config.status --config 2>/dev/null | grep -q -- '--enable-werror' ||
    ! ./config.status --config 2>/dev/null | grep -q -- '--enable-sanitizers'
then
	say "configure --enable-werror --enable-sanitizers (in $BUILDDIR)"
	"$srcdir/configure" -q --enable-werror --enable-sanitizers
fi

say "make -j$jobs"
make -j"$jobs"

status=0
say "make -j$jobs check"
make -j"$jobs" check VERBOSE=1 || status=1

# -Wwarning: warnings and errors fail; style notes (e.g. a cross-reference
# to a page not installed here) do not.
say "mandoc -Tlint"
mandoc -Tlint -Wwarning "$srcdir/man/mailsync.1" \
    "$srcdir/man/mailsync.yaml.5" || status=1

# Each fuzz target for FUZZ_SECONDS (default 60) on its seed corpus.
if command -v clang >/dev/null 2>&1; then
	say "make fuzz FUZZ_SECONDS=${FUZZ_SECONDS:-60}"
	make fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-60}" || status=1
fi

# The tests that run threads (folders synced at once, large pulls over
# several sessions) again under ThreadSanitizer, in a build of their own
# inside this one; a data race makes mailsync exit 66 and the test fail.
# Skipped where TSan cannot run at all (some kernels' address layouts).
tsan_works() {
	printf 'int main(void) { return 0; }\n' >tsan-probe.c &&
	    cc -fsanitize=thread tsan-probe.c -o tsan-probe 2>/dev/null &&
	    ./tsan-probe 2>/dev/null
}
if tsan_works; then
	say "ThreadSanitizer: the threaded tests (in $BUILDDIR/tsan)"
	mkdir -p tsan
	(
		cd tsan &&
		"$srcdir/configure" -q CFLAGS="-g -O1 -fsanitize=thread" \
		    LDFLAGS="-fsanitize=thread" &&
		make -j"$jobs" mailsync &&
		TSAN_OPTIONS="halt_on_error=1 exitcode=66" make -j"$jobs" check \
		    TESTS="tests/integration/t42-connections.sh tests/integration/t44-folders-at-once.sh" \
		    check_PROGRAMS= VERBOSE=1
	) || status=1
else
	say "ThreadSanitizer does not run here: skipped"
fi
rm -f tsan-probe.c tsan-probe

if [ "$distcheck" = yes ]; then
	say "make distcheck"
	make -j"$jobs" distcheck || status=1
fi

if [ "$status" = 0 ]; then
	say "all passed"
else
	say "FAILED (see the logs above and $BUILDDIR/test-suite.log)"
fi
exit "$status"
