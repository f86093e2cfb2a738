// bench/transports.hpp: the transports shmframe-bench compares.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bench_common.hpp"

namespace bench {

struct Transport {
  std::string name;
  ProducerFn producer;
  ConsumerFn consumer;
  std::function<bool(const Case&)> setup;  // in the parent, before fork (e.g. a socketpair)
  std::function<void()> teardown;          // in the parent, after fork
};

// shmframe and unix_socket always; zeromq and iceoryx when built with them.
std::vector<Transport> transports();
bool have_iceoryx();

}  // namespace bench
