#include "common/signals.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>

namespace chat {

void IgnoreSigpipe() {
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
}

int WaitForSignal(const std::function<void()>& on_hangup) {
  IgnoreSigpipe();
  int received = 0;
  {
    boost::asio::io_context ioc;
    boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
    if (on_hangup) signals.add(SIGHUP);
    std::function<void()> wait = [&] {
      signals.async_wait([&](const boost::system::error_code& ec, int signal) {
        if (!ec && signal == SIGHUP) {
          on_hangup();
          return wait();
        }
        received = signal;
      });
    };
    wait();
    ioc.run();  // Returns once no wait is pending.
  }
  // The signal set restored the default actions: SIGHUP would terminate a
  // draining process.
  IgnoreSigpipe();
  return received;
}

}  // namespace chat
