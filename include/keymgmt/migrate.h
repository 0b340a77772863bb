/*
 * migrate.h — schema migrations.
 *
 * Migrations are the files NNN_name.sql of a directory, applied in order, each
 * once, each in its own transaction together with its row in
 * schema_migrations (version, name, sha256). A session advisory lock makes
 * concurrent runs wait for each other, so running migrate from several hosts
 * at once, or again, is safe. An applied file whose content changed is
 * reported and refused.
 */
#ifndef KEYMGMT_MIGRATE_H
#define KEYMGMT_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* Whether a file name is a migration ("001_init.sql"); *version receives NNN. */
bool migrate_file_name(const char *name, int *version);

/* Apply pending migrations from dir. Returns the number applied, or -1 with a message. */
int migrate_run(PGconn *conn, const char *dir, char *err, size_t errlen);

#endif
