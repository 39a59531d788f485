/* SPDX-License-Identifier: Apache-2.0 */
/*
 * labels.c - dynamic tags. Every distinct set of name=value pairs a thread
 * can have is interned once, under a mutex, as a 32-bit id; the signal
 * handler only copies the current thread's id (agent_self.labelset). Sets
 * are immutable once published and live until the process ends, in a
 * two-level table that readers walk without a lock. Each thread keeps its
 * tag stack plus a small cache from (current set, name, value) to the set
 * a push leads to, so a push seen before takes no lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../core/base.h"
#include "../core/hindex.h"
#include "agent.h"

#define CHUNK_BITS 10
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define MAX_CHUNKS 64			/* at most 65535 label sets (id 0 = none) */
#define MAX_SET_BYTES (64 * 1024)	/* one set's names and values */
#define MAX_DEPTH 16			/* kiln.h: at most 16 nested tags */
#define CACHE_SIZE 32			/* per-thread push cache, direct mapped */

/* One interned set: n pairs sorted by name, strings in the same allocation. */
struct lset {
	uint64_t hash;
	size_t n;
	const char **names, **values;
};

static struct lset *_Atomic *_Atomic chunks[MAX_CHUNKS];
static atomic_uint nsets = 1;		/* next id; id 0 is "no tags" */
static pthread_mutex_t sets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kl_hindex sets_index;	/* hash -> id, under sets_lock */
static atomic_bool full_warned;

struct cache_entry {
	uint32_t prev, id;
	const char *name, *value;	/* the set's own copies (never freed) */
};

struct tagstack {
	uint32_t depth;
	uint32_t prev[MAX_DEPTH];	/* label set before each push */
	struct cache_entry cache[CACHE_SIZE];
};

static pthread_key_t stack_key;
static pthread_once_t stack_once = PTHREAD_ONCE_INIT;

static void stack_free(void *p)
{
	agent_self.in_agent++;
	kl_free(p);
	agent_self.tags = NULL;
	agent_self.labelset = 0;
	agent_self.in_agent--;
}

static void stack_key_init(void)
{
	if (pthread_key_create(&stack_key, stack_free))
		stack_key = (pthread_key_t)-1;
}

static struct lset *set_get(uint32_t id)
{
	struct lset *_Atomic *chunk;

	if (id == 0 || id >= atomic_load_explicit(&nsets, memory_order_acquire))
		return NULL;
	chunk = atomic_load_explicit(&chunks[id >> CHUNK_BITS], memory_order_acquire);
	return chunk ? atomic_load_explicit(&chunk[id & (CHUNK_SIZE - 1)], memory_order_acquire)
		     : NULL;
}

int agent_labelset_get(uint32_t id, const char *const **names, const char *const **values,
		       size_t *n)
{
	struct lset *s = set_get(id);

	if (!s)
		return -ENOENT;
	*names = s->names;
	*values = s->values;
	*n = s->n;
	return 0;
}

void agent_labels_reset(void)
{
	/*
	 * Sets are never freed while the process runs: threads may still hold
	 * their ids on their tag stacks and in their push caches, and the table
	 * is bounded (MAX_CHUNKS * CHUNK_SIZE sets).
	 */
}

static uint64_t pairs_hash(const char *const *names, const char *const *values, size_t n)
{
	uint64_t h = 0x6b696c6e;

	for (size_t i = 0; i < n; i++) {
		h = kl_hash_u64(h ^ kl_hash(names[i], strlen(names[i]) + 1));
		h = kl_hash_u64(h ^ kl_hash(values[i], strlen(values[i]) + 1));
	}
	return h;
}

static bool set_equal(const struct lset *s, const char *const *names,
		      const char *const *values, size_t n)
{
	if (s->n != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s->names[i], names[i]) || strcmp(s->values[i], values[i]))
			return false;
	}
	return true;
}

/* Copies the pairs into one allocation. NULL on out of memory. */
static struct lset *set_new(const char *const *names, const char *const *values, size_t n,
			    uint64_t hash)
{
	size_t bytes = sizeof(struct lset) + 2 * n * sizeof(char *);
	struct lset *s;
	char *p;

	for (size_t i = 0; i < n; i++)
		bytes += strlen(names[i]) + strlen(values[i]) + 2;
	s = kl_malloc(bytes);
	if (!s)
		return NULL;
	s->hash = hash;
	s->n = n;
	s->names = (const char **)(s + 1);
	s->values = s->names + n;
	p = (char *)(s->values + n);
	for (size_t i = 0; i < n; i++) {
		size_t ln = strlen(names[i]) + 1, lv = strlen(values[i]) + 1;

		memcpy(p, names[i], ln);
		s->names[i] = p;
		p += ln;
		memcpy(p, values[i], lv);
		s->values[i] = p;
		p += lv;
	}
	return s;
}

/*
 * The id of the set (names, values, n pairs sorted by name), interned on
 * first sight. 0 with *err set: -ENOMEM, or -E2BIG when the table is full.
 */
static uint32_t intern(const char *const *names, const char *const *values, size_t n, int *err)
{
	uint64_t h = pairs_hash(names, values, n);
	struct kl_hindex_probe pr;
	uint32_t idx, id = 0;
	struct lset *s;

	pthread_mutex_lock(&sets_lock);
	if (!sets_index.slots && kl_hindex_init(&sets_index, 256)) {
		*err = -ENOMEM;
		goto out;
	}
	for (idx = kl_hindex_first(&sets_index, h, &pr); idx != KL_HINDEX_NONE;
	     idx = kl_hindex_next(&sets_index, &pr)) {
		s = set_get(idx);
		if (s && s->hash == h && set_equal(s, names, values, n)) {
			id = idx;
			goto out;
		}
	}
	idx = atomic_load_explicit(&nsets, memory_order_relaxed);
	if (idx >= MAX_CHUNKS * CHUNK_SIZE) {
		*err = -E2BIG;
		goto out;
	}
	if (!atomic_load_explicit(&chunks[idx >> CHUNK_BITS], memory_order_relaxed)) {
		struct lset *_Atomic *c = kl_calloc(CHUNK_SIZE, sizeof(*c));

		if (!c) {
			*err = -ENOMEM;
			goto out;
		}
		atomic_store_explicit(&chunks[idx >> CHUNK_BITS], c, memory_order_release);
	}
	s = set_new(names, values, n, h);
	if (!s || kl_hindex_insert_at(&sets_index, &pr, idx)) {
		kl_free(s);
		*err = -ENOMEM;
		goto out;
	}
	atomic_store_explicit(&atomic_load(&chunks[idx >> CHUNK_BITS])[idx & (CHUNK_SIZE - 1)], s,
			      memory_order_release);
	atomic_store_explicit(&nsets, idx + 1, memory_order_release);
	id = idx;
out:
	pthread_mutex_unlock(&sets_lock);
	return id;
}

static bool tag_name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.'))
			return false;
	}
	return n > 0 && n <= 1024 && !(s[0] == '_' && s[1] == '_');
}

/* The set "prev plus name=value" (name replacing an earlier value), interned. */
static uint32_t derive(uint32_t prev, const char *name, const char *value, int *err)
{
	const char *names[MAX_DEPTH + 1], *values[MAX_DEPTH + 1];
	struct lset *p = set_get(prev);
	size_t n = 0, pn = p ? p->n : 0;
	bool placed = false;

	for (size_t i = 0; i < pn; i++) {
		int c = strcmp(p->names[i], name);

		if (c == 0)
			continue;
		if (c > 0 && !placed) {
			names[n] = name;
			values[n++] = value;
			placed = true;
		}
		names[n] = p->names[i];
		values[n++] = p->values[i];
	}
	if (!placed) {
		names[n] = name;
		values[n++] = value;
	}
	return intern(names, values, n, err);
}

static struct tagstack *my_stack(void)
{
	struct tagstack *ts = agent_self.tags;

	if (ts)
		return ts;
	pthread_once(&stack_once, stack_key_init);
	ts = kl_calloc(1, sizeof(*ts));
	if (!ts)
		return NULL;
	if (stack_key != (pthread_key_t)-1)
		pthread_setspecific(stack_key, ts);
	agent_self.tags = ts;
	return ts;
}

KILN_API int kiln_tag_push(const char *name, const char *value)
{
	struct tagstack *ts;
	struct cache_entry *e;
	uint32_t prev, id;
	size_t slot;
	int rc = 0;

	if (!name || !value || !tag_name_ok(name) || strlen(value) > 2048)
		return -EINVAL;
	agent_self.in_agent++;
	ts = my_stack();
	if (!ts) {
		rc = -ENOMEM;
		goto out;
	}
	if (ts->depth >= MAX_DEPTH) {
		rc = -E2BIG;
		goto out;
	}
	prev = agent_self.labelset;
	slot = (size_t)(kl_hash_u64(prev ^ kl_hash(name, strlen(name)) ^
				    (kl_hash(value, strlen(value)) << 1)) % CACHE_SIZE);
	e = &ts->cache[slot];
	if (e->id && e->prev == prev && !strcmp(e->name, name) && !strcmp(e->value, value)) {
		id = e->id;
	} else {
		struct lset *s;

		id = derive(prev, name, value, &rc);
		if (!id) {
			if (rc == -E2BIG && !atomic_exchange(&full_warned, true))
				agent_log(KILN_LOG_WARN, "more than %u distinct tag sets; new ones are "
					  "not recorded (samples keep the enclosing tags)",
					  MAX_CHUNKS * CHUNK_SIZE - 1);
			if (rc != -E2BIG)
				goto out;
			/* the push still nests, so pops stay balanced */
			id = prev;
			rc = 0;
		} else {
			s = set_get(id);
			for (size_t i = 0; s && i < s->n; i++) {
				if (!strcmp(s->names[i], name)) {
					*e = (struct cache_entry){ prev, id, s->names[i], s->values[i] };
					break;
				}
			}
		}
	}
	ts->prev[ts->depth++] = prev;
	atomic_signal_fence(memory_order_seq_cst);
	agent_self.labelset = id;
out:
	agent_self.in_agent--;
	return rc;
}

KILN_API int kiln_tag_pop(void)
{
	struct tagstack *ts = agent_self.tags;

	if (!ts || ts->depth == 0)
		return -ENOENT;
	agent_self.labelset = ts->prev[--ts->depth];
	return 0;
}

KILN_API int kiln_with_tags(const char *const *names, const char *const *values, size_t n,
			    void (*fn)(void *arg), void *arg)
{
	size_t pushed = 0;
	int rc = 0;

	if (!fn || (n && (!names || !values)))
		return -EINVAL;
	for (; pushed < n; pushed++) {
		rc = kiln_tag_push(names[pushed], values[pushed]);
		if (rc)
			break;
	}
	if (!rc)
		fn(arg);
	while (pushed--)
		kiln_tag_pop();
	return rc;
}
