// The gRPC TLS flags every binary takes (grpc_tls.h says what each file does):
// --grpc_tls_cert (env CHAT_GRPC_TLS_CERT), --grpc_tls_key
// (CHAT_GRPC_TLS_KEY), --grpc_tls_ca (CHAT_GRPC_TLS_CA). Unset: plaintext.
#ifndef CHATSUITE_COMMON_GRPC_TLS_FLAGS_H_
#define CHATSUITE_COMMON_GRPC_TLS_FLAGS_H_

#include "common/grpc_tls.h"

namespace chat {

GrpcTls GrpcTlsFromFlags();

}  // namespace chat

#endif  // CHATSUITE_COMMON_GRPC_TLS_FLAGS_H_
