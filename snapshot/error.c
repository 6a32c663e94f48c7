/* snapshot: the thread's last error message, kind names, libgit2 setup. */
#include "snapshot_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "banned.h"

static _Thread_local char last_error[1024];

const char *snap_last_error(void)
{
	return last_error;
}

void snap__clear_error(void)
{
	last_error[0] = '\0';
}

int snap__err(int rc, const char *fmt, ...)
{
	/* Format into a local buffer first: callers may pass snap_last_error()
	 * itself as an argument to wrap the previous message. */
	char msg[sizeof(last_error)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(last_error, msg, sizeof(msg));
	return rc;
}

int snap__git_err(int rc, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const git_error *ge = git_error_last();
	snprintf(last_error, sizeof(last_error), "%s: %s", msg, ge && ge->message ? ge->message : "libgit2 error");
	return rc;
}

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_init_once(void)
{
	git_libgit2_init();
}

void snap__git_init(void)
{
	pthread_once(&git_once, git_init_once);
}

static const char *const kind_names[] = {
	[SNAP_KIND_IMAGE] = "image",
	[SNAP_KIND_SESSION] = "session",
	[SNAP_KIND_PRE_EXIT] = "pre-exit",
};

const char *snap_kind_name(int kind)
{
	if (kind < 0 || kind > SNAP_KIND_PRE_EXIT)
		return "unknown";
	return kind_names[kind];
}

int snap_kind_parse(const char *s, int *out)
{
	for (int k = 0; k <= SNAP_KIND_PRE_EXIT; k++) {
		if (s && strcmp(s, kind_names[k]) == 0) {
			*out = k;
			return 0;
		}
	}
	return snap__err(-EINVAL, "unknown layer kind '%s' (image, session or pre-exit)", s ? s : "");
}
