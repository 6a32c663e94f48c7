/*
 * mklayer: writes a store layer from a small text spec (tests of thawfs's
 * store layers). Uses the snapshot library as a writer would:
 * snap_object_put_fd for every file's content, snap_writer for the manifest.
 *
 *   mklayer --store DIR [--kind image|session|pre-exit] [--parent ID]
 *           [--synced SHA] [--base SHA] [--repo NAME] SPEC
 *
 * SPEC (a file, or - for stdin): one entry per line, '#' starts a comment:
 *
 *   TYPE PATH [KEY=VALUE]...
 *
 *   | TYPE     | what                                                     |
 *   |----------|----------------------------------------------------------|
 *   | reg      | regular file: text=, file=PATH or size=N [fill=C]        |
 *   | dir      | directory; opaque=1 hides everything below the layer     |
 *   | symlink  | target=T                                                 |
 *   | fifo     | named pipe                                               |
 *   | chr, blk | device: rdev=MAJOR:MINOR                                 |
 *   | sock     | socket                                                   |
 *   | whiteout | hides PATH in the layers below                           |
 *   | link     | hard link to=FIRST (a reg entry given earlier)           |
 *
 * Common keys: mode=OCTAL, uid=N, gid=N, mtime=SEC[.NSEC],
 * xattr=NAME=VALUE (repeatable). In text=, target= and xattr values, \s is a
 * space, \n a newline, \t a tab and \\ a backslash.
 * Prints the layer id on stdout. Exit status 1 with one line on stderr on error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "snapshot.h"

struct ent {
	struct snap_entry e;
	char *path, *target, *link;
	unsigned char *xattrs;
	size_t xlen;
};

static struct ent *ents;
static size_t nents, cap;

static int die(const char *what, int r)
{
	const char *m = snap_last_error();
	fprintf(stderr, "mklayer: %s: %s\n", what, m && m[0] ? m : strerror(r < 0 ? -r : r));
	exit(1);
}

static char *unescape(const char *s)
{
	char *o = malloc(strlen(s) + 1), *w = o;
	if (!o)
		exit(1);
	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			*w++ = *s == 's' ? ' ' : *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	return o;
}

static void xattr_add(struct ent *en, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq) {
		fprintf(stderr, "mklayer: xattr=%s: expected NAME=VALUE\n", kv);
		exit(1);
	}
	char *val = unescape(eq + 1);
	size_t nl = (size_t)(eq - kv), vl = strlen(val);
	en->xattrs = realloc(en->xattrs, en->xlen + nl + 1 + 4 + vl);
	if (!en->xattrs)
		exit(1);
	unsigned char *p = en->xattrs + en->xlen;
	memcpy(p, kv, nl);
	p[nl] = '\0';
	p += nl + 1;
	p[0] = (unsigned char)(vl & 0xff);
	p[1] = (unsigned char)((vl >> 8) & 0xff);
	p[2] = (unsigned char)((vl >> 16) & 0xff);
	p[3] = (unsigned char)((vl >> 24) & 0xff);
	memcpy(p + 4, val, vl);
	en->xlen += nl + 1 + 4 + vl;
	free(val);
}

static int type_of(const char *t)
{
	static const char *const names[] = {"reg", "dir", "symlink", "fifo", "chr", "blk", "sock", "whiteout"};
	for (int i = 0; i < 8; i++)
		if (!strcmp(t, names[i]))
			return i;
	if (!strcmp(t, "link"))
		return 100;
	return -1;
}

static struct ent *find(const char *path)
{
	for (size_t i = 0; i < nents; i++)
		if (!strcmp(ents[i].path, path))
			return &ents[i];
	return NULL;
}

/* Stores content (one of text, file, size+fill) and sets cid and size. */
static void put_content(struct snap_store *s, struct ent *en, const char *text, const char *file, long long size,
                        int fill)
{
	int fd;
	if (file) {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "mklayer: %s: %s\n", file, strerror(errno));
			exit(1);
		}
	} else {
		fd = memfd_create("mklayer", MFD_CLOEXEC);
		if (fd < 0)
			exit(1);
		if (text) {
			if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
				exit(1);
		} else if (size > 0) {
			char buf[65536];
			unsigned x = (unsigned)fill * 2654435761u + 1;
			long long left = size;
			while (left > 0) {
				size_t n = left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf);
				for (size_t i = 0; i < n; i++) {
					if (fill >= 0 && fill < 256) {
						buf[i] = (char)fill;
					} else {
						x = x * 1103515245u + 12345u;
						buf[i] = (char)(x >> 16);
					}
				}
				if (write(fd, buf, n) != (ssize_t)n)
					exit(1);
				left -= (long long)n;
			}
		}
		if (lseek(fd, 0, SEEK_SET) < 0)
			exit(1);
	}
	uint64_t sz;
	bool isnew;
	int r = snap_object_put_fd(s, fd, &en->e.cid, &sz, &isnew);
	close(fd);
	if (r < 0)
		die(en->path, r);
	en->e.size = sz;
}

static void usage(void)
{
	fprintf(stderr, "usage: mklayer --store DIR [--kind K] [--parent ID] [--synced SHA] [--base SHA] "
	                "[--repo NAME] SPEC\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"store", required_argument, NULL, 's'}, {"kind", required_argument, NULL, 'k'},
		{"parent", required_argument, NULL, 'p'}, {"synced", required_argument, NULL, 'y'},
		{"base", required_argument, NULL, 'b'},   {"repo", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	const char *store = NULL;
	struct snap_meta meta;
	int c, r;

	memset(&meta, 0, sizeof(meta));
	meta.kind = SNAP_KIND_SESSION;
	snprintf(meta.repo, sizeof(meta.repo), "test");
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': store = optarg; break;
		case 'k':
			if (snap_kind_parse(optarg, &meta.kind) < 0)
				usage();
			break;
		case 'p': snprintf(meta.parent, sizeof(meta.parent), "%s", optarg); break;
		case 'y': snprintf(meta.synced_commit, sizeof(meta.synced_commit), "%s", optarg); break;
		case 'b': snprintf(meta.base_commit, sizeof(meta.base_commit), "%s", optarg); break;
		case 'r': snprintf(meta.repo, sizeof(meta.repo), "%s", optarg); break;
		default: usage();
		}
	}
	if (!store || optind != argc - 1)
		usage();
	FILE *f = strcmp(argv[optind], "-") ? fopen(argv[optind], "r") : stdin;
	if (!f) {
		fprintf(stderr, "mklayer: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	struct snap_store *s;
	if ((r = snap_store_open(&s, store, true)) < 0)
		die(store, r);

	char line[8192];
	unsigned lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save);
		if (!tok || tok[0] == '#')
			continue;
		int type = type_of(tok);
		char *path = strtok_r(NULL, " \t\r\n", &save);
		if (type < 0 || !path) {
			fprintf(stderr, "mklayer: line %u: expected TYPE PATH\n", lineno);
			return 1;
		}
		if (nents == cap) {
			cap = cap ? cap * 2 : 256;
			if (!(ents = realloc(ents, cap * sizeof(*ents)))) {
				fprintf(stderr, "mklayer: out of memory\n");
				return 1;
			}
		}
		struct ent *en = &ents[nents++];
		memset(en, 0, sizeof(*en));
		en->path = strdup(path);
		struct snap_entry *e = &en->e;
		e->type = type == 100 ? SNAP_T_REG : type;
		e->mode = type == SNAP_T_DIR ? 0755 : type == SNAP_T_SYMLINK ? 0777 : 0644;
		e->uid = (uint32_t)getuid();
		e->gid = (uint32_t)getgid();
		e->mtime_sec = 1700000000;
		char *text = NULL;
		const char *file = NULL, *to = NULL;
		long long size = -1;
		int fill = -1;
		char *kv;
		while ((kv = strtok_r(NULL, " \t\r\n", &save))) {
			char *eq = strchr(kv, '=');
			if (!eq) {
				fprintf(stderr, "mklayer: line %u: expected KEY=VALUE, got '%s'\n", lineno, kv);
				return 1;
			}
			*eq = '\0';
			const char *v = eq + 1;
			if (!strcmp(kv, "mode")) e->mode = (uint32_t)strtoul(v, NULL, 8);
			else if (!strcmp(kv, "uid")) e->uid = (uint32_t)strtoul(v, NULL, 10);
			else if (!strcmp(kv, "gid")) e->gid = (uint32_t)strtoul(v, NULL, 10);
			else if (!strcmp(kv, "mtime")) {
				char *end;
				e->mtime_sec = strtoll(v, &end, 10);
				if (*end == '.')
					e->mtime_nsec = (uint32_t)strtoul(end + 1, NULL, 10);
			} else if (!strcmp(kv, "text")) {
				free(text);
				text = unescape(v);
			}
			else if (!strcmp(kv, "file")) file = v;
			else if (!strcmp(kv, "size")) size = strtoll(v, NULL, 10);
			else if (!strcmp(kv, "fill")) fill = v[0] >= '0' && v[0] <= '9' ? -1 - atoi(v) : (unsigned char)v[0];
			else if (!strcmp(kv, "target")) {
				free(en->target);
				en->target = unescape(v);
			}
			else if (!strcmp(kv, "rdev")) {
				unsigned ma = 0, mi = 0;
				if (sscanf(v, "%u:%u", &ma, &mi) != 2) {
					fprintf(stderr, "mklayer: line %u: rdev=MAJOR:MINOR\n", lineno);
					return 1;
				}
				e->rdev = makedev(ma, mi);
			} else if (!strcmp(kv, "opaque")) e->opaque = atoi(v) != 0;
			else if (!strcmp(kv, "xattr")) {
				*eq = '=';
				xattr_add(en, v);
			} else if (!strcmp(kv, "to")) to = v;
			else {
				fprintf(stderr, "mklayer: line %u: unknown key '%s'\n", lineno, kv);
				return 1;
			}
		}
		if (type == 100) {
			struct ent *first = to ? find(to) : NULL;
			if (!first || first->e.type != SNAP_T_REG) {
				fprintf(stderr, "mklayer: line %u: link needs to=PATH of an earlier reg entry\n", lineno);
				return 1;
			}
			*e = first->e;
			en->link = strdup(to);
			if (first->xlen) {
				if (!(en->xattrs = malloc(first->xlen)))
					exit(1);
				memcpy(en->xattrs, first->xattrs, first->xlen);
			}
			en->xlen = first->xlen;
		} else if (type == SNAP_T_REG) {
			put_content(s, en, text ? text : size < 0 ? "" : NULL, file, size, fill);
		}
		free(text);
	}
	if (f != stdin)
		fclose(f);

	struct snap_writer *w;
	if ((r = snap_writer_new(&w, s, &meta)) < 0)
		die("writer", r);
	for (size_t i = 0; i < nents; i++) {
		struct ent *en = &ents[i];
		en->e.path = en->path;
		en->e.target = en->target;
		en->e.link = en->link;
		en->e.xattrs = en->xlen ? en->xattrs : NULL;
		en->e.xattrs_len = en->xlen;
		if ((r = snap_writer_add(w, &en->e)) < 0)
			die(en->path, r);
	}
	char id[SNAP_ID_HEXLEN + 1];
	if ((r = snap_writer_commit(w, id)) < 0)
		die("commit", r);
	snap_writer_free(w);
	snap_store_free(s);
	for (size_t i = 0; i < nents; i++) {
		free(ents[i].path);
		free(ents[i].target);
		free(ents[i].link);
		free(ents[i].xattrs);
	}
	free(ents);
	printf("%s\n", id);
	return 0;
}
