/* Whole-buffer I/O for the snapshot store: retries on EINTR and short counts. */
#include <errno.h>
#include <unistd.h>

#include "snapshot_int.h"

#include "banned.h"

int snap__write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One loop for both reads: off < 0 reads at the current position. */
static ssize_t read_loop(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = off < 0 ? read(fd, (char *)buf + got, len - got)
		                    : pread(fd, (char *)buf + got, len - got, off + (off_t)got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t snap__read_full(int fd, void *buf, size_t len)
{
	return read_loop(fd, buf, len, -1);
}

ssize_t snap__pread_full(int fd, void *buf, size_t len, off_t off)
{
	return read_loop(fd, buf, len, off < 0 ? 0 : off);
}
