/* RFC 3339 times: format at each precision, parse with fractions and offsets, bad input refused. */
#include <string.h>

#include "check.h"
#include "rfc3339.h"

static void test_format(void)
{
	char buf[BW_RFC3339_SIZE];

	CHECK_INT(0, bw_rfc3339_format(buf, sizeof(buf), 0, 0, 0), "the epoch");
	CHECK_STR("1970-01-01T00:00:00Z", buf, "as metav1.Time");
	bw_rfc3339_format(buf, sizeof(buf), 1796012348, 123456789, 0);
	CHECK_STR("2026-11-30T04:19:08Z", buf, "seconds, the fraction dropped");
	bw_rfc3339_format(buf, sizeof(buf), 1796012348, 123456789, 3);
	CHECK_STR("2026-11-30T04:19:08.123Z", buf, "milliseconds (log lines)");
	bw_rfc3339_format(buf, sizeof(buf), 1796012348, 1000, 6);
	CHECK_STR("2026-11-30T04:19:08.000001Z", buf, "microseconds (MicroTime), zero-padded");
	bw_rfc3339_format(buf, sizeof(buf), 1796012348, 5, 9);
	CHECK_STR("2026-11-30T04:19:08.000000005Z", buf, "nanoseconds");
	bw_rfc3339_format(buf, sizeof(buf), 951782400, 0, 0);
	CHECK_STR("2000-02-29T00:00:00Z", buf, "a leap day");
	bw_rfc3339_format(buf, sizeof(buf), -1, 0, 0);
	CHECK_STR("1969-12-31T23:59:59Z", buf, "before the epoch");
	bw_rfc3339_format(buf, sizeof(buf), 253402300799LL, 0, 0);
	CHECK_STR("9999-12-31T23:59:59Z", buf, "the last second of year 9999");
	CHECK_INT(BW_EINVAL, bw_rfc3339_format(buf, sizeof(buf), 253402300800LL, 0, 0),
		  "year 10000 refused");
	CHECK_STR("", buf, "leaving the buffer empty");
	CHECK_INT(BW_EINVAL, bw_rfc3339_format(buf, sizeof(buf), 0, 0, 2), "2 digits refused");
	CHECK_INT(BW_EINVAL, bw_rfc3339_format(buf, sizeof(buf), 0, 1000000000, 0),
		  "nsec of a whole second refused");
	CHECK_INT(BW_EINVAL, bw_rfc3339_format(buf, 20, 0, 0, 0), "a short buffer refused");
	CHECK_INT(0, bw_rfc3339_now(buf, sizeof(buf), 6), "now");
	CHECK(strlen(buf) == 27 && buf[26] == 'Z' && buf[19] == '.', "now as MicroTime: %s", buf);
}

static void test_parse(void)
{
	struct bw_error err;
	long long sec = 0;
	long nsec = -1;

	CHECK_INT(0, bw_rfc3339_parse("2026-11-30T04:19:08Z", &sec, &nsec, &err), "UTC");
	CHECK_INT(1796012348, sec, "its seconds");
	CHECK_INT(0, nsec, "no fraction");
	CHECK_INT(0, bw_rfc3339_parse("2026-11-30T04:19:08.5Z", &sec, &nsec, &err), "a fraction");
	CHECK_INT(500000000, nsec, ".5 is half a second");
	bw_rfc3339_parse("2026-11-30T04:19:08.123456Z", &sec, &nsec, &err);
	CHECK_INT(123456000, nsec, "microseconds");
	bw_rfc3339_parse("2026-11-30T04:19:08.1234567891234Z", &sec, &nsec, &err);
	CHECK_INT(123456789, nsec, "digits past nanoseconds dropped");
	CHECK_INT(0, bw_rfc3339_parse("2026-11-30T06:19:08+02:00", &sec, &nsec, &err),
		  "a positive offset");
	CHECK_INT(1796012348, sec, "is east of UTC: subtracted");
	CHECK_INT(0, bw_rfc3339_parse("2026-11-29T22:49:08.25-05:30", &sec, &nsec, &err),
		  "a negative offset with a fraction");
	CHECK_INT(1796012348, sec, "is west of UTC: added");
	CHECK_INT(250000000, nsec, "and its fraction");
	CHECK_INT(0, bw_rfc3339_parse("2026-11-30t04:19:08z", &sec, NULL, &err), "lowercase t, z");
	CHECK_INT(1796012348, sec, "read the same");
	CHECK_INT(0, bw_rfc3339_parse("2024-02-29T00:00:00Z", &sec, NULL, &err), "a leap day");
	CHECK_INT(0, bw_rfc3339_parse("1969-12-31T23:59:59Z", &sec, NULL, &err), "before 1970");
	CHECK_INT(-1, sec, "is negative");

	static const char *const bad[] = {
	    "",
	    "2026-11-30",
	    "2026-11-30 04:19:08Z",
	    "2026-11-30T04:19:08",
	    "2026-11-30T04:19:08ZZ",
	    "2026-11-30T04:19:08.Z",
	    "2026-11-30T04:19:08+0200",
	    "2026-11-30T04:19:08+24:00",
	    "2026-13-01T00:00:00Z",
	    "2026-00-01T00:00:00Z",
	    "2026-02-29T00:00:00Z",
	    "2026-04-31T00:00:00Z",
	    "2026-11-30T24:00:00Z",
	    "2026-11-30T04:60:00Z",
	    "2026-11-30T04:19:61Z",
	    "26-11-30T04:19:08Z",
	    "2026-1-30T04:19:08Z",
	    " 2026-11-30T04:19:08Z",
	    "2026-11-30T04:19:08Z ",
	    "+2026-11-30T04:19:08Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.message[0] = '\0';
		CHECK_INT(BW_EINVAL, bw_rfc3339_parse(bad[i], &sec, &nsec, &err), "refused: \"%s\"",
			  bad[i]);
		CHECK(err.message[0] != '\0', "with a message: %s", err.message);
	}
	CHECK_INT(BW_EINVAL, bw_rfc3339_parse(NULL, &sec, &nsec, &err), "NULL refused");
}

static void test_round_trip(void)
{
	char buf[BW_RFC3339_SIZE];
	long long sec;
	long nsec;
	int bad = 0;

	/* every ~17 days over 0000-9999 and around the epoch, at 6 digits */
	for (long long t = -62167219200LL; t <= 253402300799LL; t += 1499999 + (t & 7)) {
		bw_rfc3339_format(buf, sizeof(buf), t, 654321000, 6);
		if (bw_rfc3339_parse(buf, &sec, &nsec, NULL) != 0 || sec != t || nsec != 654321000)
			bad++;
	}
	CHECK_INT(0, bad, "format then parse gives the same instant across 0000-9999");
	CHECK_INT(0, bw_days_from_civil(1970, 1, 1), "day 0 is 1970-01-01");
	CHECK_INT(20422, bw_days_from_civil(2025, 11, 30), "2025-11-30 is day 20422");
}

int main(void)
{
	test_format();
	test_parse();
	test_round_trip();
	return check_exit();
}
