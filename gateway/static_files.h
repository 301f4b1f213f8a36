// StaticFiles: the web client, loaded into memory once at start so serving a
// file never touches the disk on an I/O thread.
#ifndef CHATSUITE_GATEWAY_STATIC_FILES_H_
#define CHATSUITE_GATEWAY_STATIC_FILES_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace chat::gateway {

class StaticFiles {
 public:
  struct File {
    std::string content_type;
    std::string body;
  };

  // Load reads every regular file under root (recursively, at most 32 MiB in
  // all). kNotFound if root is not a directory.
  absl::Status Load(const std::string& root);

  // Find maps a request path ("/" is "/index.html") to a file, or nullptr.
  const File* Find(absl::string_view path) const;

 private:
  absl::flat_hash_map<std::string, File> files_;  // Keyed by "/relative/path".
};

}  // namespace chat::gateway

#endif  // CHATSUITE_GATEWAY_STATIC_FILES_H_
