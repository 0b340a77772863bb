/*
 * validate.h — pure validation of names and values from the wire.
 *
 * No I/O, no allocation. Every function answers for the whole string.
 */
#ifndef KEYMGMT_VALIDATE_H
#define KEYMGMT_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN 128

/* Provider and key names: 1..128 of [A-Za-z0-9._-], first and last alphanumeric. */
bool validate_name(const char *s);

/* A well-formed AWS region name: [partition-]area-direction-number, e.g.
 * us-east-1, us-gov-west-1, cn-north-1, eu-central-2, ap-southeast-4. */
bool validate_region(const char *s);

/* An alias prefix: [A-Za-z0-9/_-]*, at most 128 chars, not starting with aws/. */
bool validate_alias_prefix(const char *s);

/* Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False.
 * Returns 0 and sets *out, or -1. */
int validate_parse_bool(const char *s, bool *out);

#endif
