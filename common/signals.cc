#include "common/signals.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>

namespace chat {

void IgnoreSigpipe() { std::signal(SIGPIPE, SIG_IGN); }

int WaitForSignal(const std::function<void()>& on_hangup) {
  IgnoreSigpipe();
  boost::asio::io_context ioc;
  boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
  if (on_hangup) signals.add(SIGHUP);
  int received = 0;
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
  return received;
}

}  // namespace chat
