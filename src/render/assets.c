/* SPDX-License-Identifier: Apache-2.0 */
/*
 * assets.c - lookup in the tables of embedded web assets.
 */
#include "assets.h"

#include <string.h>

const struct kl_asset *kl_asset_find(const struct kl_asset *table, const char *path)
{
	for (; table->path; table++) {
		if (!strcmp(table->path, path))
			return table;
	}
	return NULL;
}
