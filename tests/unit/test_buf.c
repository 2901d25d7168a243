/* The capped growable buffer: growth, the cap reached and met exactly,
 * printf at the cap, reset, steal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"

static void test_growth(void)
{
	struct bw_buf b;
	char chunk[1000];
	size_t len = 0;
	char *s;
	int ret = 0;

	memset(chunk, 'x', sizeof(chunk));
	bw_buf_init(&b, 1 << 20);
	CHECK(b.data == NULL && b.len == 0, "a new buffer allocates nothing");
	for (int i = 0; i < 100 && ret == 0; i++)
		ret = bw_buf_append(&b, chunk, sizeof(chunk));
	CHECK_INT(0, ret, "100 appends of 1,000 bytes fit under 1 MiB");
	CHECK_INT(100000, b.len, "the length counts every byte");
	CHECK(b.cap >= b.len + 1 && b.cap <= 2 * (b.len + 1), "grown by doubling: cap %zu", b.cap);
	CHECK_INT('\0', b.data[b.len], "NUL-terminated");
	CHECK_INT(0, bw_buf_append(&b, "a\0b", 3), "bytes with a NUL are appended");
	CHECK(memcmp(b.data + 100000, "a\0b", 3) == 0, "and kept as they are");
	s = bw_buf_steal(&b, &len);
	CHECK(s != NULL && len == 100003, "steal hands over the content and its length");
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0, "steal leaves the buffer empty");
	CHECK_INT(0, bw_buf_puts(&b, "again"), "a stolen-from buffer is usable");
	CHECK_STR("again", b.data, "with new content");
	free(s);
	bw_buf_release(&b);
	s = bw_buf_steal(&b, &len);
	CHECK(s && *s == '\0' && len == 0, "steal of an empty buffer gives \"\"");
	free(s);
}

static void test_cap(void)
{
	struct bw_buf b;
	struct bw_error err;

	bw_buf_init(&b, 10);
	CHECK_INT(0, bw_buf_append(&b, "0123456789", 10), "exactly the cap fits");
	CHECK_INT(10, b.len, "10 bytes held");
	CHECK(b.cap <= 11, "never more allocated than the cap and the NUL: %zu", b.cap);
	CHECK_INT(0, b.error, "no error at the cap");
	CHECK_INT(BW_ETOOBIG, bw_buf_append(&b, "x", 1), "one byte past the cap is refused");
	CHECK_INT(10, b.len, "and nothing of it is appended");
	CHECK_STR("0123456789", b.data, "the content is intact");
	CHECK_INT(BW_ETOOBIG, b.error, "the failure is kept");
	CHECK_INT(0, bw_buf_append(&b, "", 0), "an empty append at the cap is fine");
	CHECK_INT(BW_ETOOBIG, bw_buf_error(&b, "a watch event", &err), "bw_buf_error reports it");
	CHECK_STR("a watch event is larger than the 10-byte cap", err.message, "naming the cap");
	bw_buf_reset(&b);
	CHECK(b.len == 0 && b.error == 0 && b.data && b.data[0] == '\0',
	      "reset empties and clears the error, keeping the memory");
	CHECK_INT(BW_ETOOBIG, bw_buf_append(&b, "0123456789A", 11), "a single piece over the cap");
	CHECK_INT(0, b.len, "is not appended in part");
	CHECK_INT(BW_ETOOBIG, bw_buf_append(&b, "x", SIZE_MAX), "a length that would overflow");
	bw_buf_release(&b);

	bw_buf_init(&b, 0);
	CHECK_INT(BW_ETOOBIG, bw_buf_puts(&b, "x"), "a zero cap refuses any byte");
	CHECK_INT(0, bw_buf_error(&(struct bw_buf){0}, "x", &err), "no error to report: 0");
	bw_buf_release(&b);

	/* lowering the cap after content (the client does on an error status) */
	bw_buf_init(&b, 1000);
	bw_buf_puts(&b, "12345");
	b.max = 6;
	CHECK_INT(0, bw_buf_puts(&b, "6"), "up to a lowered cap");
	CHECK_INT(BW_ETOOBIG, bw_buf_puts(&b, "7"), "not past it");
	bw_buf_release(&b);
}

static void test_printf(void)
{
	struct bw_buf b;

	bw_buf_init(&b, 12);
	CHECK_INT(0, bw_buf_printf(&b, "%s=%d", "ab", 42), "printf appends");
	CHECK_STR("ab=42", b.data, "formatted");
	CHECK_INT(0, bw_buf_printf(&b, "%07d", 12345), "printf to exactly the cap");
	CHECK_STR("ab=420012345", b.data, "12 bytes");
	CHECK_INT(BW_ETOOBIG, bw_buf_printf(&b, "%d", 1), "printf past the cap is refused");
	CHECK_STR("ab=420012345", b.data, "and leaves no partial text");
	bw_buf_release(&b);

	bw_buf_init(&b, 5000);
	bw_buf_puts(&b, "x");
	CHECK_INT(0, bw_buf_printf(&b, "%4500s", "y"), "printf that must grow the buffer");
	CHECK_INT(4501, b.len, "all of it appended");
	CHECK_INT('y', b.data[4500], "its last byte in place");
	CHECK_INT(BW_ETOOBIG, bw_buf_printf(&b, "%499s|", "z"), "one byte too many after growth");
	CHECK_INT(4501, b.len, "nothing appended");
	CHECK_INT('\0', b.data[4501], "the NUL put back where the text ends");
	CHECK_INT(0, bw_buf_printf(&b, "%498s|", "z"), "exactly to the cap after growth");
	CHECK_INT(5000, b.len, "5,000 bytes");
	bw_buf_release(&b);
}

int main(void)
{
	test_growth();
	test_cap();
	test_printf();
	return check_exit();
}
