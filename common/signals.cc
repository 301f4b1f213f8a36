#include "common/signals.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>

namespace chat {

void IgnoreSigpipe() { std::signal(SIGPIPE, SIG_IGN); }

int WaitForSignal() {
  IgnoreSigpipe();
  boost::asio::io_context ioc;
  boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
  int received = 0;
  signals.async_wait([&](const boost::system::error_code&, int signal) { received = signal; });
  ioc.run();  // Returns once the wait has completed.
  return received;
}

}  // namespace chat
