/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buf.c - growable byte buffer with a ceiling and sticky errors.
 */
#include "buf.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_LIMIT ((size_t)1 << 30)

void kl_buf_init(struct kl_buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

void kl_buf_release(struct kl_buf *b)
{
	size_t limit = b->limit;

	kl_free(b->data);
	kl_buf_init(b, limit);
}

char *kl_buf_detach(struct kl_buf *b, size_t *len)
{
	char *data = b->data;

	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return data;
}

int kl_buf_reserve(struct kl_buf *b, size_t n)
{
	size_t limit = b->limit ? b->limit : DEFAULT_LIMIT;

	if (b->error)
		return b->error;
	if (n > limit || b->len > limit - n) {
		b->error = -KL_ELIMIT;
		return b->error;
	}
	/* + 1 keeps room for the terminating NUL */
	if (KL_GROW(b->data, b->cap, b->len + n + 1)) {
		b->error = -ENOMEM;
		return b->error;
	}
	return 0;
}

void kl_buf_add(struct kl_buf *b, const void *data, size_t n)
{
	/* an empty append may come with data == NULL, which memcpy must not see */
	if (n == 0)
		return;
	if (kl_buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void kl_buf_addstr(struct kl_buf *b, const char *s)
{
	kl_buf_add(b, s, strlen(s));
}

void kl_buf_addch(struct kl_buf *b, char c)
{
	size_t limit = b->limit ? b->limit : DEFAULT_LIMIT;

	/* fast path: room in the allocation and under the ceiling */
	if (b->len + 1 < b->cap && b->len < limit && !b->error) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return;
	}
	kl_buf_add(b, &c, 1);
}

void kl_buf_addf(struct kl_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (kl_buf_reserve(b, 64))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->error = -KL_EIO;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (kl_buf_reserve(b, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void kl_buf_add_u64(struct kl_buf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	kl_buf_add(b, tmp + i, sizeof(tmp) - i);
}

void kl_buf_add_i64(struct kl_buf *b, int64_t v)
{
	if (v < 0) {
		kl_buf_addch(b, '-');
		kl_buf_add_u64(b, (uint64_t)0 - (uint64_t)v);
		return;
	}
	kl_buf_add_u64(b, (uint64_t)v);
}

void kl_buf_add_json_str(struct kl_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		kl_buf_add(b, s + run, i - run);
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		kl_buf_add(b, esc, elen);
	}
	kl_buf_add(b, s + run, n - run);
}


/* ---- per-thread spares --------------------------------------------------- */

struct spares {
	char *data[KL_BUF_SPARES];
	size_t cap[KL_BUF_SPARES];
};

/*
 * The thread's spares live on the heap, registered under a pthread key
 * whose destructor frees them when the thread exits; the __thread pointer
 * only saves the pthread_getspecific call.
 */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static bool spare_key_ok;
static __thread struct spares *spare_mine;

static void spares_free(void *arg)
{
	struct spares *sp = arg;

	for (size_t i = 0; i < KL_BUF_SPARES; i++)
		kl_free(sp->data[i]);
	kl_free(sp);
	spare_mine = NULL;
}

static void spare_key_init(void)
{
	spare_key_ok = pthread_key_create(&spare_key, spares_free) == 0;
}

static struct spares *spares_get(void)
{
	struct spares *sp = spare_mine;

	if (sp)
		return sp;
	if (pthread_once(&spare_once, spare_key_init) || !spare_key_ok)
		return NULL;
	sp = kl_calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	if (pthread_setspecific(spare_key, sp)) {
		kl_free(sp);
		return NULL;
	}
	spare_mine = sp;
	return sp;
}

void kl_buf_spare_take(struct kl_buf *b, size_t want)
{
	struct spares *sp = spare_mine;
	size_t i, best = KL_BUF_SPARES;

	if (b->data || !sp)
		return;
	for (i = 0; i < KL_BUF_SPARES; i++) {
		bool fits = sp->cap[i] >= want, best_fits;

		if (!sp->data[i])
			continue;
		if (best == KL_BUF_SPARES) {
			best = i;
			continue;
		}
		best_fits = sp->cap[best] >= want;
		if (fits ? !best_fits || sp->cap[i] < sp->cap[best]
			 : !best_fits && sp->cap[i] > sp->cap[best])
			best = i;
	}
	if (best == KL_BUF_SPARES)
		return;
	b->data = sp->data[best];
	b->cap = sp->cap[best];
	sp->data[best] = NULL;
	sp->cap[best] = 0;
}

void kl_buf_spare_give(struct kl_buf *b)
{
	struct spares *sp;
	size_t i, slot = KL_BUF_SPARES;

	if (!b->data || b->cap > KL_BUF_SPARE_MAX || !(sp = spares_get())) {
		kl_buf_release(b);
		return;
	}
	/* an empty slot, else the smallest spare if b is larger */
	for (i = 0; i < KL_BUF_SPARES; i++) {
		if (!sp->data[i]) {
			slot = i;
			break;
		}
		if (sp->cap[i] < b->cap && (slot == KL_BUF_SPARES || sp->cap[i] < sp->cap[slot]))
			slot = i;
	}
	if (slot == KL_BUF_SPARES) {
		kl_buf_release(b);
		return;
	}
	kl_free(sp->data[slot]);
	sp->data[slot] = b->data;
	sp->cap[slot] = b->cap;
	b->data = NULL;
	kl_buf_release(b);
}
