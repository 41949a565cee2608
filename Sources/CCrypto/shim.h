// The parts of OpenSSL's libcrypto that the signer uses: EVP digests, HMAC and the error queue.
#ifndef SECRETS_INJECTOR_CCRYPTO_SHIM_H
#define SECRETS_INJECTOR_CCRYPTO_SHIM_H

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#endif
