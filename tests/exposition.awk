# Lints a Prometheus text exposition (format 0.0.4) read on stdin: every
# metric has exactly one "# HELP" and one "# TYPE", given before its first
# sample, and every sample belongs to a metric declared so (a histogram's
# _bucket, _sum and _count samples to the histogram). Prints each problem and
# exits 1 when there is one; prints "N metrics, M samples" and exits 0 otherwise.
#   curl -s http://127.0.0.1:8080/metrics | awk -f tests/exposition.awk
function fail(msg) { print "exposition line " NR ": " msg; bad = 1 }
/^# HELP / {
	if (help[$3]++) fail("a second HELP for " $3)
	next
}
/^# TYPE / {
	if (type[$3] != "") fail("a second TYPE for " $3)
	if (!help[$3]) fail("TYPE before HELP for " $3)
	if (seen[$3]) fail("TYPE after samples of " $3)
	type[$3] = $4
	metrics++
	next
}
/^#/ || /^$/ { next }
{
	name = $1
	sub(/\{.*/, "", name)
	base = name
	if (type[base] == "" && match(name, /_(bucket|sum|count)$/)) {
		base = substr(name, 1, RSTART - 1)
		if (type[base] != "histogram" && type[base] != "summary") base = name
	}
	if (type[base] == "") fail("a sample of " name " without HELP and TYPE before it")
	seen[base] = 1
	samples++
}
END {
	for (m in help) if (type[m] == "") { print "exposition: HELP without TYPE for " m; bad = 1 }
	if (!bad) print metrics + 0 " metrics, " samples + 0 " samples"
	exit bad
}
