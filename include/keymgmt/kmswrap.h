/*
 * kmswrap.h — wrapping key material for AWS KMS import (BYOK).
 *
 * RSAES_OAEP_SHA_256: RSA-OAEP with SHA-256 and MGF1-SHA-256, no label, under
 * the wrapping public key GetParametersForImport returns (a DER
 * SubjectPublicKeyInfo). Done with OpenSSL's EVP_PKEY_encrypt; the padding's
 * randomness comes from OpenSSL's generator. No I/O.
 */
#ifndef KEYMGMT_KMSWRAP_H
#define KEYMGMT_KMSWRAP_H

#include "keymgmt/status.h"

#include <stddef.h>

#define KMSWRAP_ALGORITHM "RSAES_OAEP_SHA_256"
#define KMSWRAP_MIN_RSA_BITS 2048

/* Wrap `material` under the RSA public key `spki_der`. *out is malloc'd (the
 * wrapped form is not secret; free with free()). KM_EINVAL, with a message in
 * err, when the key is not a usable RSA public key or the material does not
 * fit; KM_EINTERNAL when OpenSSL fails otherwise. */
enum km_status kmswrap_rsa_oaep_sha256(const unsigned char *spki_der, size_t spki_len,
                                       const unsigned char *material, size_t material_len,
                                       unsigned char **out, size_t *outlen, char *err,
                                       size_t errlen);

#endif
