/* RFC 3339 times: see rfc3339.h. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rfc3339.h"

long long bw_days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

/* The inverse: the date of a day count (Hinnant's civil_from_days). */
static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
	long long era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (long long)yoe + era * 400 + (*m <= 2);
}

int bw_rfc3339_format(char *buf, size_t size, long long sec, long nsec, int digits)
{
	static const long scale[] = {1000000000, 0, 0, 1000000, 0, 0, 1000, 0, 0, 1};
	long long days, rem, y;
	unsigned m, d;
	int n;

	if (!buf || size < BW_RFC3339_SIZE)
		return BW_EINVAL;
	buf[0] = '\0';
	if (digits < 0 || digits > 9 || !scale[digits] || nsec < 0 || nsec > 999999999)
		return BW_EINVAL;
	days = sec / 86400;
	rem = sec % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return BW_EINVAL;
	n = snprintf(buf, size, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", y, m, d, rem / 3600,
		     rem / 60 % 60, rem % 60);
	if (digits)
		n += snprintf(buf + n, size - (size_t)n, ".%0*ld", digits, nsec / scale[digits]);
	snprintf(buf + n, size - (size_t)n, "Z");
	return 0;
}

int bw_rfc3339_now(char *buf, size_t size, int digits)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return bw_rfc3339_format(buf, size, (long long)now.tv_sec, now.tv_nsec, digits);
}

/* n decimal digits at *p into *out; advances *p. */
static int digits_at(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

int bw_rfc3339_parse(const char *s, long long *sec, long *nsec, struct bw_error *err)
{
	const char *p = s;
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
	long frac = 0;

	if (!s)
		return bw_error_set(err, BW_EINVAL, "no time given");
	if (digits_at(&p, 4, &y) || expect(&p, '-') || digits_at(&p, 2, &mo) || expect(&p, '-') ||
	    digits_at(&p, 2, &d))
		return bw_error_set(err, BW_EINVAL,
				    "\"%.40s\" is not an RFC 3339 time: want YYYY-MM-DDTHH:MM:SSZ",
				    s);
	if ((*p != 'T' && *p != 't') || (p++, digits_at(&p, 2, &h)) || expect(&p, ':') ||
	    digits_at(&p, 2, &mi) || expect(&p, ':') || digits_at(&p, 2, &se))
		return bw_error_set(err, BW_EINVAL,
				    "\"%.40s\" is not an RFC 3339 time: want HH:MM:SS after the "
				    "date and a \"T\"",
				    s);
	if (*p == '.') {
		int n = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 9)
				frac = frac * 10 + (*p - '0');
		if (n == 0)
			return bw_error_set(err, BW_EINVAL,
					    "\"%.40s\": a \".\" without fraction digits", s);
		for (; n < 9; n++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (digits_at(&p, 2, &oh) || expect(&p, ':') || digits_at(&p, 2, &om))
			return bw_error_set(err, BW_EINVAL,
					    "\"%.40s\": an offset is \"+hh:mm\" or \"-hh:mm\"", s);
	} else {
		return bw_error_set(err, BW_EINVAL,
				    "\"%.40s\" is not an RFC 3339 time: want \"Z\" or an offset "
				    "after the seconds",
				    s);
	}
	if (*p)
		return bw_error_set(err, BW_EINVAL, "\"%.40s\": text after the time", s);
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    se > 60 || oh > 23 || om > 59)
		return bw_error_set(err, BW_EINVAL, "\"%.40s\": a field is out of range", s);
	if (se == 60)
		se = 59;
	*sec = bw_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600LL + mi * 60LL +
	       se - sign * (oh * 3600LL + om * 60LL);
	if (nsec)
		*nsec = frac;
	return 0;
}
