/* SPDX-License-Identifier: Apache-2.0 */
/*
 * assets.h - web assets compiled into the binary by tools/embed.c.
 */
#ifndef KL_ASSETS_H
#define KL_ASSETS_H

#include <stddef.h>

struct kl_asset {
	const char *path;		/* e.g. "web/flamegraph/flamegraph.js" */
	const unsigned char *data;	/* NUL-terminated */
	size_t len;
};

/* The flame graph viewer: the .js and .css files of web/flamegraph. */
extern const struct kl_asset kl_flame_assets[];

/* Finds an asset by path in a NULL-terminated table, or NULL. */
const struct kl_asset *kl_asset_find(const struct kl_asset *table, const char *path);

#endif /* KL_ASSETS_H */
