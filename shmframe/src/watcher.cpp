#include "shmframe/detail/watcher.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "shmframe/detail/errors.hpp"

namespace shmframe::detail {

Watcher::Watcher(std::string object, const std::function<void(const std::string&)>& warn) : object_(std::move(object)) {
  fd_ = UniqueFd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd_) {
    if (warn) warn("inotify unavailable (" + errno_text(errno) + "): polling for the stream every 50 ms");
    return;
  }
  const std::string dir(kShmDir);
  if (inotify_add_watch(fd_.get(), dir.c_str(), IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MODIFY | IN_ATTRIB) < 0) {
    if (warn) warn("cannot watch " + dir + " (" + errno_text(errno) + "): polling for the stream every 50 ms");
    fd_.reset();
  }
}

int Watcher::wait_for_change(std::uint64_t deadline) noexcept {
  for (;;) {
    const std::uint64_t now = monotonic_ns();
    if (now >= deadline) return ETIMEDOUT;
    const std::uint64_t left_ms = (deadline - now + 999'999) / 1'000'000;
    if (!fd_) {
      // Degraded mode only (no inotify): a bounded poll, never on the frame path.
      const int r = ::poll(nullptr, 0, static_cast<int>(std::min<std::uint64_t>(left_ms, 50)));
      return r < 0 && errno == EINTR ? EINTR : 0;
    }
    pollfd p{fd_.get(), POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<std::uint64_t>(left_ms, 60'000)));
    if (r < 0) return errno == EINTR ? EINTR : 0;
    if (r > 0 && drain_events()) return 0;
  }
}

bool Watcher::drain_events() noexcept {
  alignas(inotify_event) char buf[4096];
  bool ours = false;
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n <= 0) return ours;
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      // A lost event (queue overflow) may have been ours.
      if ((ev->mask & IN_Q_OVERFLOW) != 0) ours = true;
      if (ev->len > 0 && object_.compare(1, std::string::npos, ev->name) == 0) ours = true;
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
}

}  // namespace shmframe::detail
