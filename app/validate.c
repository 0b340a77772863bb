/*
 * validate.c — pure validation of names and values; see validate.h.
 */
#include "keymgmt/validate.h"

#include <string.h>

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool validate_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

/* Compass directions used by AWS region names. */
static const char *const directions[] = {
    "north", "south", "east", "west", "central", "northeast", "northwest", "southeast", "southwest",
};

static bool span_lower(const char *s, size_t len, size_t min, size_t max)
{
    if (len < min || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_lower(s[i]))
            return false;
    return true;
}

/*
 * Region grammar, split on '-':
 *   area [sub] direction number
 *   area      2..4 lower-case letters  (us, eu, ap, cn, eusc, ...)
 *   sub       2..5 lower-case letters  (gov, iso, isob, isoe, de, ...), optional
 *   direction one of directions[]
 *   number    1..2 digits, no leading zero
 */
bool validate_region(const char *s)
{
    const char *parts[5];
    size_t lens[5];
    size_t n = 0;
    size_t total = strlen(s);

    if (total == 0 || total > 32)
        return false;
    const char *p = s;
    for (;;) {
        const char *dash = strchr(p, '-');
        size_t len = dash ? (size_t)(dash - p) : strlen(p);
        if (n == 5)
            return false;
        parts[n] = p;
        lens[n] = len;
        n++;
        if (dash == NULL)
            break;
        p = dash + 1;
    }
    if (n != 3 && n != 4)
        return false;
    if (!span_lower(parts[0], lens[0], 2, 4))
        return false;
    if (n == 4 && !span_lower(parts[1], lens[1], 2, 5))
        return false;
    const char *dir = parts[n - 2];
    size_t dlen = lens[n - 2];
    bool dir_ok = false;
    for (size_t i = 0; i < sizeof(directions) / sizeof(directions[0]); i++)
        if (strlen(directions[i]) == dlen && strncmp(directions[i], dir, dlen) == 0)
            dir_ok = true;
    if (!dir_ok)
        return false;
    const char *num = parts[n - 1];
    size_t nlen = lens[n - 1];
    if (nlen < 1 || nlen > 2 || num[0] == '0')
        return false;
    for (size_t i = 0; i < nlen; i++)
        if (!is_digit(num[i]))
            return false;
    return true;
}

bool validate_alias_prefix(const char *s)
{
    size_t n = strlen(s);
    if (n > 128 || strncmp(s, "aws/", 4) == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '/' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

int validate_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}
