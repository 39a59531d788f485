/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strtab.h - interned strings.
 *
 * Every string in a profile (function names, file names, label keys and
 * values, units) is stored once in a strtab and referred to by a 32-bit id.
 * Id 0 is always the empty string, as in pprof's string_table. Strings are
 * kept in one growing byte arena; a hash table maps content to id.
 */
#ifndef KL_STRTAB_H
#define KL_STRTAB_H

#include "base.h"

typedef uint32_t kl_strid;

struct kl_strtab;

/* Creates an empty table holding only "" as id 0. NULL on out of memory. */
struct kl_strtab *kl_strtab_new(void);

/* Frees the table and every string in it. NULL is accepted. */
void kl_strtab_free(struct kl_strtab *st);

/*
 * Returns the id of the string s[0..len), adding it if absent. The string
 * may contain NUL bytes. On out of memory returns 0 and marks the table as
 * failed (see kl_strtab_failed); later calls keep working where they can.
 */
kl_strid kl_strtab_intern(struct kl_strtab *st, const char *s, size_t len);

/* kl_strtab_intern for a NUL-terminated string. */
kl_strid kl_strtab_intern_cstr(struct kl_strtab *st, const char *s);

/*
 * Appends s as a new id even if an equal string exists. Needed only by
 * readers that must keep a file's string ids stable. Same failure rule.
 */
kl_strid kl_strtab_append(struct kl_strtab *st, const char *s, size_t len);

/*
 * Returns the id of s if present, or -1 (without adding it).
 */
int64_t kl_strtab_find(const struct kl_strtab *st, const char *s, size_t len);

/*
 * Borrows the string with this id: NUL-terminated, valid until the table is
 * changed or freed. An id out of range yields "".
 */
const char *kl_strtab_get(const struct kl_strtab *st, kl_strid id);

/* Length in bytes of the string with this id (0 when out of range). */
size_t kl_strtab_len(const struct kl_strtab *st, kl_strid id);

/* Number of ids in the table (at least 1). */
uint32_t kl_strtab_count(const struct kl_strtab *st);

/* True once an allocation has failed in this table. */
bool kl_strtab_failed(const struct kl_strtab *st);

/* Bytes of memory held by the table, for statistics. */
size_t kl_strtab_memory(const struct kl_strtab *st);

#endif /* KL_STRTAB_H */
