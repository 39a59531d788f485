/* SPDX-License-Identifier: Apache-2.0 */
/*
 * version.h - Kiln's version, shared by the CLI, the server and libkiln.
 */
#ifndef KILN_VERSION_H
#define KILN_VERSION_H

#define KILN_VERSION_MAJOR 0
#define KILN_VERSION_MINOR 1
#define KILN_VERSION_PATCH 0
#define KILN_VERSION_STRING "0.1.0"

#endif /* KILN_VERSION_H */
