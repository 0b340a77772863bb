/*
 * key.h — named keys: /v1/<mount>/key[/:name[/rotate|/kms]].
 *
 * keymgmt generates and owns key material. Each key has a type and numbered
 * versions; each version's material is stored only sealed, with
 * "key:<name>:<version>" as associated data. Reads return public keys, never
 * private or symmetric material.
 */
#ifndef KEYMGMT_KEY_H
#define KEYMGMT_KEY_H

#include "keymgmt/request.h"
#include "keymgmt/response.h"

#include <stddef.h>

enum km_status key_write(struct request *req, struct response *resp);
enum km_status key_read(struct request *req, struct response *resp);
enum km_status key_list(struct request *req, struct response *resp);
enum km_status key_delete(struct request *req, struct response *resp);
enum km_status key_rotate(struct request *req, struct response *resp);
enum km_status key_list_providers(struct request *req, struct response *resp);

/* Associated data for a version's sealed material (pool memory). */
char *key_seal_ad(struct pool *p, const char *name, long version);

/* Unseal one version's material. *material is malloc'd: release with codec_free_secret(). */
enum km_status key_material(struct request *req, const char *name, long version,
                            unsigned char **material, size_t *len);

#endif
