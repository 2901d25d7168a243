/* Reading small files whole: see file.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "file.h"

/* How much of a path a message shows: a long one keeps its head and tail, so
 * the reason after it still fits in the message. */
#define PATH_SHOWN 200

const char *bw_file_strerror(int e, char *buf, size_t size)
{
	if (strerror_r(e, buf, size) != 0)
		snprintf(buf, size, "error %d", e);
	return buf;
}

int bw_file_read(const char *path, const char *what, size_t cap, int flags, char **out,
		 size_t *out_len, struct timespec *mtime, struct bw_error *err)
{
	int regular_only = flags & BW_FILE_REGULAR_ONLY;
	char ebuf[128], pbuf[PATH_SHOWN + 1];
	const char *shown;
	struct stat st;
	char *buf = NULL, *grown;
	size_t len = 0, size = 4096;
	ssize_t got;
	int fd, rc = 0;

	*out = NULL;
	if (out_len)
		*out_len = 0;
	if (!path || !*path)
		return bw_error_set(err, BW_EINVAL, "%s: no file named", what);
	shown = bw_error_abbrev(path, PATH_SHOWN, pbuf, sizeof(pbuf));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (regular_only ? O_NONBLOCK : 0));
	if (fd < 0)
		return bw_error_set(err, BW_EIO, "cannot read %s %s: %s", what, shown,
				    bw_file_strerror(errno, ebuf, sizeof(ebuf)));
	if (fstat(fd, &st) < 0) {
		rc = bw_error_set(err, BW_EIO, "cannot read %s %s: %s", what, shown,
				  bw_file_strerror(errno, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (S_ISDIR(st.st_mode) || (regular_only && !S_ISREG(st.st_mode))) {
		rc = bw_error_set(err, BW_EIO, "cannot read %s %s: %s", what, shown,
				  S_ISDIR(st.st_mode) ? "it is a folder" : "not a regular file");
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		if ((unsigned long long)st.st_size > cap) {
			rc = bw_error_set(err, BW_ETOOBIG,
					  "%s %s is %lld bytes, more than the limit of %zu", what,
					  shown, (long long)st.st_size, cap);
			goto out;
		}
		size = (size_t)st.st_size + 2; /* +1 to see end of file in one read */
	}
	buf = malloc(size);
	if (!buf) {
		rc = bw_error_set(err, BW_ENOMEM, "out of memory reading %s", shown);
		goto out;
	}
	for (;;) {
		if (len + 1 == size) {
			/* the file grew while being read: one byte past the cap tells */
			size = size > cap / 2 ? cap + 2 : size * 2;
			grown = realloc(buf, size);
			if (!grown) {
				rc =
				    bw_error_set(err, BW_ENOMEM, "out of memory reading %s", shown);
				goto out;
			}
			buf = grown;
		}
		got = read(fd, buf + len, size - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = bw_error_set(err, BW_EIO, "cannot read %s %s: %s", what, shown,
					  bw_file_strerror(errno, ebuf, sizeof(ebuf)));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
		if (len > cap) {
			rc = bw_error_set(err, BW_ETOOBIG,
					  "%s %s is more than the limit of %zu bytes", what, shown,
					  cap);
			goto out;
		}
	}
	buf[len] = '\0';
	if (mtime)
		*mtime = st.st_mtim;
	*out = buf;
	if (out_len)
		*out_len = len;
	buf = NULL;
out:
	if (buf && (flags & BW_FILE_SECRET))
		OPENSSL_cleanse(buf, size);
	free(buf);
	close(fd);
	return rc;
}
