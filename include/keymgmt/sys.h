/*
 * sys.h — the system endpoints Vault clients call: sys/health and
 * auth/token/lookup-self.
 */
#ifndef KEYMGMT_SYS_H
#define KEYMGMT_SYS_H

#include "keymgmt/request.h"
#include "keymgmt/response.h"

enum km_status sys_health(struct request *req, struct response *resp);
enum km_status sys_lookup_self(struct request *req, struct response *resp);

#endif
