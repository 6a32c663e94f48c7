/*
 * randops: a seeded random sequence of file system operations applied to a
 * workspace (A) and to a plain reference directory (B) in lockstep. Every
 * operation must give the same result on both (success, or the same errno),
 * and after every batch the two trees must be identical (names, types,
 * permission bits, sizes, contents, symlink targets).
 *
 *   randops --seed S --ops N --batch B [--hook-at K --hook CMD] A B
 *
 * --hook runs CMD (through /bin/sh) after operation K, e.g. a sync of the
 * workspace that lands in the middle of the run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng;
static uint64_t next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static unsigned pick(unsigned n) { return n ? (unsigned)(next() % n) : 0; }

static const char *A, *B;
static char **paths; /* relative paths that exist in B (refreshed each batch) */
static size_t npaths, cappaths;
static long op_no;

static void add_path(const char *p)
{
	if (npaths == cappaths) {
		cappaths = cappaths ? cappaths * 2 : 256;
		paths = realloc(paths, cappaths * sizeof(*paths));
	}
	paths[npaths++] = strdup(p);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const char *root, const char *rel, void (*fn)(const char *rel, const struct stat *st, void *), void *arg)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char r[PATH_MAX], p[PATH_MAX];
		struct stat st;
		snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
		snprintf(p, sizeof(p), "%s/%s", root, r);
		if (lstat(p, &st) == 0) {
			fn(r, &st, arg);
			if (S_ISDIR(st.st_mode))
				walk(root, r, fn, arg);
		}
		free(names[i]);
	}
	free(names);
}

static void collect(const char *rel, const struct stat *st, void *arg)
{
	(void)st;
	(void)arg;
	add_path(rel);
}

static void refresh(void)
{
	for (size_t i = 0; i < npaths; i++)
		free(paths[i]);
	npaths = 0;
	walk(B, "", collect, NULL);
	if (npaths == 0)
		add_path("c"); /* an operand that may not exist: ENOENT on both */
}

struct listing {
	char *buf;
	size_t len, cap;
};

static void app(struct listing *l, const char *s, size_t n)
{
	if (l->len + n + 1 > l->cap) {
		l->cap = (l->len + n + 1) * 2;
		l->buf = realloc(l->buf, l->cap);
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

static const char *root_of_listing;

static void describe(const char *rel, const struct stat *st, void *arg)
{
	struct listing *l = arg;
	char line[PATH_MAX + 600], p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", root_of_listing, rel);
	int n = snprintf(line, sizeof(line), "%s %o", rel, (unsigned)st->st_mode);
	if (S_ISREG(st->st_mode)) {
		uint64_t h = 1469598103934665603ull;
		int fd = open(p, O_RDONLY);
		char buf[65536];
		ssize_t r;
		while (fd >= 0 && (r = read(fd, buf, sizeof(buf))) > 0)
			for (ssize_t i = 0; i < r; i++)
				h = (h ^ (unsigned char)buf[i]) * 1099511628211ull;
		if (fd >= 0)
			close(fd);
		n += snprintf(line + n, sizeof(line) - (size_t)n, " size=%lld hash=%016llx nlink=%d",
		              (long long)st->st_size, (unsigned long long)h, (int)st->st_nlink);
	} else if (S_ISLNK(st->st_mode)) {
		char t[PATH_MAX];
		ssize_t r = readlink(p, t, sizeof(t) - 1);
		t[r < 0 ? 0 : r] = '\0';
		n += snprintf(line + n, sizeof(line) - (size_t)n, " -> %s", t);
	}
	line[n++] = '\n';
	app(l, line, (size_t)n);
}

static int compare_trees(void)
{
	struct listing la = {0}, lb = {0};
	root_of_listing = A;
	walk(A, "", describe, &la);
	root_of_listing = B;
	walk(B, "", describe, &lb);
	int same = la.len == lb.len && (la.len == 0 || !memcmp(la.buf, lb.buf, la.len));
	if (!same) {
		fprintf(stderr, "randops: trees differ after op %ld\n", op_no);
		FILE *fa = fopen("/tmp/randops.A", "w"), *fb = fopen("/tmp/randops.B", "w");
		if (fa && la.buf) fputs(la.buf, fa);
		if (fb && lb.buf) fputs(lb.buf, fb);
		if (fa) fclose(fa);
		if (fb) fclose(fb);
		fprintf(stderr, "randops: listings in /tmp/randops.A and /tmp/randops.B\n");
	}
	free(la.buf);
	free(lb.buf);
	return same ? 0 : -1;
}

static const char *rand_existing(void) { return paths[pick((unsigned)npaths)]; }

static void rand_new(char *out, size_t len)
{
	static const char *names[] = {"a", "b", "c", "dd", "eee", "f.txt", "g.c", "h", "sub", "x"};
	const char *dir = pick(4) == 0 ? "" : rand_existing();
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", B, dir);
	struct stat st;
	if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		dir = "";
	snprintf(out, len, "%s%s%s", dir, dir[0] ? "/" : "", names[pick(10)]);
}

typedef int (*op_fn)(const char *root, const char *p1, const char *p2, long a, long b);

static void join(char *out, const char *root, const char *rel)
{
	snprintf(out, PATH_MAX, "%s/%s", root, rel);
}

static int r_errno(int rc) { return rc < 0 ? errno : 0; }

static int o_create(const char *root, const char *p1, const char *p2, long a, long b)
{
	char p[PATH_MAX];
	join(p, root, p1);
	int fd = open(p, O_CREAT | O_WRONLY | (a & 1 ? O_EXCL : 0), 0644);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int o_write(const char *root, const char *p1, const char *p2, long a, long b)
{
	char p[PATH_MAX], buf[8192];
	join(p, root, p1);
	int fd = open(p, O_WRONLY | (b & 1 ? O_APPEND : 0));
	if (fd < 0)
		return errno;
	size_t len = (size_t)(b % (long)sizeof(buf));
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + (a + (long)i) % 26);
	ssize_t w = (b & 1) ? write(fd, buf, len) : pwrite(fd, buf, len, a % 20000);
	int e = w < 0 ? errno : 0;
	close(fd);
	return e;
}

static int o_truncate(const char *root, const char *p1, const char *p2, long a, long b)
{
	char p[PATH_MAX];
	join(p, root, p1);
	return r_errno(truncate(p, a % 30000));
}

static int o_rename(const char *root, const char *p1, const char *p2, long a, long b)
{
	char x[PATH_MAX], y[PATH_MAX];
	join(x, root, p1);
	join(y, root, p2);
	unsigned flags = a % 4 == 0 ? RENAME_NOREPLACE : a % 4 == 1 ? RENAME_EXCHANGE : 0;
	return r_errno(renameat2(AT_FDCWD, x, AT_FDCWD, y, flags));
}

static int o_link(const char *root, const char *p1, const char *p2, long a, long b)
{
	char x[PATH_MAX], y[PATH_MAX];
	join(x, root, p1);
	join(y, root, p2);
	return r_errno(link(x, y));
}

static int o_unlink(const char *root, const char *p1, const char *p2, long a, long b)
{
	char p[PATH_MAX];
	join(p, root, p1);
	return r_errno(unlink(p));
}

static int o_mkdir(const char *root, const char *p1, const char *p2, long a, long b)
{
	char p[PATH_MAX];
	join(p, root, p1);
	return r_errno(mkdir(p, 0755));
}

static int o_rmdir(const char *root, const char *p1, const char *p2, long a, long b)
{
	char p[PATH_MAX];
	join(p, root, p1);
	return r_errno(rmdir(p));
}

static int o_chmod(const char *root, const char *p1, const char *p2, long a, long b)
{
	char p[PATH_MAX];
	join(p, root, p1);
	static const mode_t modes[] = {0600, 0644, 0755, 0700, 0640};
	return r_errno(chmod(p, modes[a % 5]));
}

static int o_symlink(const char *root, const char *p1, const char *p2, long a, long b)
{
	char p[PATH_MAX];
	join(p, root, p2);
	return r_errno(symlink(p1, p));
}

static int o_read(const char *root, const char *p1, const char *p2, long a, long b)
{
	char p[PATH_MAX], buf[512];
	join(p, root, p1);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return errno;
	ssize_t n = pread(fd, buf, sizeof(buf), a % 20000);
	int e = n < 0 ? errno : 0;
	close(fd);
	return e;
}

int main(int argc, char **argv)
{
	long seed = 1, ops = 10000, batch = 500, hook_at = -1;
	const char *hook = NULL;
	int i = 1;
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--seed")) seed = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--ops")) ops = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--batch")) batch = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--hook-at")) hook_at = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--hook")) hook = argv[i + 1];
		else break;
	}
	if (argc - i != 2 || batch < 1) {
		fprintf(stderr, "usage: randops --seed S --ops N --batch B [--hook-at K --hook CMD] A B\n");
		return 2;
	}
	A = argv[i];
	B = argv[i + 1];
	rng = (uint64_t)seed;
	umask(022);
	refresh();
	if (compare_trees() < 0) {
		fprintf(stderr, "randops: trees differ before the first operation\n");
		return 1;
	}
	static const struct { const char *name; op_fn fn; int weight; int new1, new2; } table[] = {
		{"create", o_create, 10, 1, 0}, {"write", o_write, 20, 0, 0}, {"truncate", o_truncate, 6, 0, 0},
		{"rename", o_rename, 10, 0, 1}, {"link", o_link, 4, 0, 1}, {"unlink", o_unlink, 8, 0, 0},
		{"mkdir", o_mkdir, 6, 1, 0}, {"rmdir", o_rmdir, 5, 0, 0}, {"chmod", o_chmod, 6, 0, 0},
		{"symlink", o_symlink, 4, 0, 1}, {"read", o_read, 10, 0, 0},
	};
	int total = 0;
	for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++)
		total += table[k].weight;
	for (op_no = 1; op_no <= ops; op_no++) {
		int w = (int)pick((unsigned)total);
		size_t k = 0;
		while (w >= table[k].weight)
			w -= table[k++].weight;
		char p1[PATH_MAX], p2[PATH_MAX];
		if (table[k].new1)
			rand_new(p1, sizeof(p1));
		else
			snprintf(p1, sizeof(p1), "%s", rand_existing());
		if (table[k].new2) {
			if (pick(3) == 0)
				snprintf(p2, sizeof(p2), "%s", rand_existing());
			else
				rand_new(p2, sizeof(p2));
		} else {
			p2[0] = '\0';
		}
		long a = (long)(next() % 100000), b = (long)(next() % 100000);
		if (getenv("RANDOPS_TRACE")) fprintf(stderr, "op %ld %s %s %s %ld %ld\n", op_no, table[k].name, p1, p2, a, b);
		int ea = table[k].fn(A, p1, p2, a, b);
		int eb = table[k].fn(B, p1, p2, a, b);
		if (ea != eb) {
			fprintf(stderr, "randops: op %ld %s(%s, %s, %ld, %ld): workspace %s, reference %s\n", op_no,
			        table[k].name, p1, p2, a, b, ea ? strerror(ea) : "ok", eb ? strerror(eb) : "ok");
			return 1;
		}
		if (!eb && (table[k].new1 || table[k].new2))
			add_path(table[k].new1 ? p1 : p2);
		if (op_no == hook_at && hook) {
			if (system(hook) != 0) {
				fprintf(stderr, "randops: hook failed: %s\n", hook);
				return 1;
			}
		}
		if (getenv("RANDOPS_CHECK_EACH") && compare_trees() < 0) {
			fprintf(stderr, "randops: first difference after op %ld %s(%s, %s, %ld, %ld)\n", op_no,
			        table[k].name, p1, p2, a, b);
			return 1;
		}
		if (op_no % batch == 0) {
			if (compare_trees() < 0)
				return 1;
			refresh();
		}
	}
	if (compare_trees() < 0)
		return 1;
	fprintf(stderr, "randops: %ld operations, workspace and reference identical\n", ops);
	return 0;
}
