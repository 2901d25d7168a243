/* Leader election options: the timings that keep two leaders from acting at once. */
#include <string.h>

#include "check.h"
#include "leader.h"

static const struct {
	long lease_ms, renew_ms, retry_ms;
	int ret;
	const char *message_part;
} timings[] = {
    {0, 0, 0, 0, NULL}, /* the defaults: 15 s / 10 s / 2 s */
    {4000, 3000, 500, 0, NULL},
    {4000, 4000, 500, BW_EINVAL, "renew deadline"},
    {4000, 5000, 500, BW_EINVAL, "renew deadline"},
    {4500, 3000, 500, BW_EINVAL, "whole number of seconds"},
    {1000, 500, 100, BW_EINVAL, "at least 2"},
    {4000, 3000, 3000, BW_EINVAL, "retry period"},
};

int main(void)
{
	for (size_t i = 0; i < sizeof(timings) / sizeof(timings[0]); i++) {
		struct bw_leader_options o = {.namespace = "ns",
					      .name = "lease",
					      .identity = "me",
					      .lease_duration_ms = timings[i].lease_ms,
					      .renew_deadline_ms = timings[i].renew_ms,
					      .retry_period_ms = timings[i].retry_ms};
		struct bw_leader *le = NULL;
		struct bw_error err = {0};
		int ret = bw_leader_new(&le, NULL, &o, &err);

		CHECK_INT(timings[i].ret, ret, "lease %ld ms, renew %ld ms, retry %ld ms",
			  timings[i].lease_ms, timings[i].renew_ms, timings[i].retry_ms);
		if (timings[i].message_part)
			CHECK(strstr(err.message, timings[i].message_part) != NULL,
			      "the message names the %s: %s", timings[i].message_part, err.message);
		bw_leader_free(le);
	}
	return check_exit();
}
