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
 * Adds s[0..len) as a new, indexed id without looking for an equal string:
 * the caller knows there is none (it copies strings from a table without
 * duplicates, see kl_strtab_has_duplicates). hash must be kl_hash(s, len)
 * (only its high 32 bits are used, the low ones may carry a caller's mark),
 * which a caller copying one string into several tables computes once. An
 * empty s returns 0 and adds nothing. Same failure rule as intern.
 */
kl_strid kl_strtab_add_hashed(struct kl_strtab *st, const char *s, size_t len, uint64_t hash);

/*
 * True if kl_strtab_append has stored a non-empty string twice, so that
 * two ids may hold the same bytes.
 */
bool kl_strtab_has_duplicates(const struct kl_strtab *st);

/*
 * Makes room for nstrings more strings of nbytes bytes in all (NULs not
 * counted), so that adding them neither grows nor copies anything.
 * Returns 0 or -ENOMEM (the table is unchanged and still usable).
 */
int kl_strtab_reserve(struct kl_strtab *st, size_t nstrings, size_t nbytes);

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

/* Bytes of all strings with their NULs: what a copy of every id needs. */
size_t kl_strtab_bytes(const struct kl_strtab *st);

/* Number of ids in the table (at least 1). */
uint32_t kl_strtab_count(const struct kl_strtab *st);

/* True once an allocation has failed in this table. */
bool kl_strtab_failed(const struct kl_strtab *st);

/* Bytes of memory held by the table, for statistics. */
size_t kl_strtab_memory(const struct kl_strtab *st);

#endif /* KL_STRTAB_H */
