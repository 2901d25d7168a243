#!/usr/bin/env bash
# The test library's port picker: a port handed out earlier in the same test
# is never handed out again, even while nothing listens on it yet (an
# operator starting, or killed and about to start again). The fault run of
# 2026-11-30 failed once because the health and webhook ports of one operator
# were the same number: the picker only looked for listeners.
. "$(dirname "$0")/../lib.sh"

# pick SEED [PORT...]: free_port in a fresh shell whose $RANDOM starts at
# SEED, so the same seed draws the same ports
pick() { bash -c '. "$1"; RANDOM=$2; shift 2; free_port "$@"' _ "$top/tests/lib.sh" "$@"; }
pick_reserved() { bash -c '. "$1"; RANDOM=$2; reserved_ports=$3; free_port' _ "$top/tests/lib.sh" "$@"; }

first=$(pick 7)
check "free_port answers a port in 20000-31999 ($first)" test "$first" -ge 20000 -a "$first" -le 31999
check_eq "the same draws answer the same port" "$first" "$(pick 7)"
avoid=$(pick 7 "$first")
check "a port named is never answered ($first, then $avoid)" test -n "$avoid" -a "$avoid" != "$first"
reserved=$(pick_reserved 7 "1 $first 2")
check "nor one in \$reserved_ports ($first, then $reserved)" test -n "$reserved" -a "$reserved" != "$first"

reserved_ports=
take_port a
take_port b
take_port c
check "take_port hands out distinct ports ($a $b $c)" \
	test "$a" != "$b" -a "$b" != "$c" -a "$a" != "$c"
check_eq "and reserves each" " $a $b $c" "$reserved_ports"
