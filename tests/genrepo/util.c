/* Error messages, growable buffers and integer-only log-uniform sizes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* strdup, realpath */
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "genrepo.h"
#include "banned.h"

static void gerr_vset(struct gerr *e, const char *fmt, va_list ap)
{
	if (e->msg[0] == '\0')
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int gerr_set(struct gerr *e, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gerr_vset(e, fmt, ap);
	va_end(ap);
	return rc;
}

static void gerr_append(struct gerr *e, size_t had, const char *tail)
{
	size_t len = strlen(e->msg);

	/* Only the message just recorded gets the tail. */
	if (had == 0 && len > 0 && len < sizeof(e->msg) - 1)
		snprintf(e->msg + len, sizeof(e->msg) - len, ": %s", tail);
}

int gerr_sys(struct gerr *e, int errnum, const char *fmt, ...)
{
	size_t had = strlen(e->msg);
	va_list ap;

	va_start(ap, fmt);
	gerr_vset(e, fmt, ap);
	va_end(ap);
	gerr_append(e, had, strerror(errnum));
	return -errnum;
}

int gerr_git(struct gerr *e, int rc, const char *fmt, ...)
{
	const git_error *ge = git_error_last();
	size_t had = strlen(e->msg);
	va_list ap;

	va_start(ap, fmt);
	gerr_vset(e, fmt, ap);
	va_end(ap);
	gerr_append(e, had, ge && ge->message ? ge->message : "unknown libgit2 error");
	return rc < 0 ? rc : -1;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

void buf_reserve(struct buf *b, size_t extra)
{
	size_t want, cap;
	char *p;

	if (b->oom)
		return;
	if (extra > SIZE_MAX / 2 - b->len - 1) {
		b->oom = true;
		return;
	}
	want = b->len + extra + 1;
	if (want <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

void buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		buf_reserve(b, n);
		if (b->oom)
			return;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void buf_addu(struct buf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf_add(b, tmp + i, sizeof(tmp) - i);
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	buf_reserve(b, (size_t)n);
	if (b->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int buf_error(const struct buf *b)
{
	return b->oom ? -ENOMEM : 0;
}

/* 2^(k/16) for k = 0..16 in 16.16 fixed point. */
static const uint32_t exp2_16th[17] = {
	65536, 68438, 71468, 74632, 77936, 81386, 84990, 88752, 92682,
	96785, 101070, 105545, 110218, 115098, 120194, 125515, 131072,
};

/* log2(x) in 16.16 fixed point, for x >= 1, by bit length and a table. */
static uint64_t log2_fixed(uint64_t x)
{
	uint64_t ip = 0, frac, lo = 0, hi = 16;

	while ((x >> (ip + 1)) != 0)
		ip++;
	/* x / 2^ip in [1, 2) as 16.16 */
	frac = ip >= 16 ? x >> (ip - 16) : x << (16 - ip);
	while (hi - lo > 1) {
		uint64_t mid = (lo + hi) / 2;
		if (exp2_16th[mid] <= frac)
			lo = mid;
		else
			hi = mid;
	}
	/* linear between table points */
	return (ip << 16) + (lo << 12) +
	       ((frac - exp2_16th[lo]) << 12) / (exp2_16th[lo + 1] - exp2_16th[lo]);
}

/* 2^x for x in 16.16 fixed point; the result in integers. */
static uint64_t exp2_fixed(uint64_t x)
{
	uint64_t ip = x >> 16, f = x & 0xffff;
	uint64_t k = f >> 12, rem = f & 0xfff;
	uint64_t m = exp2_16th[k] + (((uint64_t)(exp2_16th[k + 1] - exp2_16th[k]) * rem) >> 12);

	return ip >= 16 ? m << (ip - 16) : m >> (16 - ip);
}

uint64_t rng_logsize(struct rng *r, uint64_t lo, uint64_t hi)
{
	uint64_t llo, lhi, v;

	if (lo == 0)
		lo = 1;
	if (hi <= lo + 1)
		return lo;
	llo = log2_fixed(lo);
	lhi = log2_fixed(hi);
	v = exp2_fixed(llo + rng_below(r, lhi - llo));
	if (v < lo)
		v = lo;
	if (v >= hi)
		v = hi - 1;
	return v;
}
