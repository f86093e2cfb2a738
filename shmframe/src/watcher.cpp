#include "shmframe/detail/watcher.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "shmframe/detail/errors.hpp"

namespace shmframe::detail {

Watcher::Watcher(std::string object, const std::function<void(const std::string&)>& warn, const Interrupt* interrupt)
    : object_(std::move(object)), interrupt_(interrupt) {
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
  // The interrupt's eventfd beside inotify's: readable while raised. Without one, the wait is
  // cut into 50 ms slices that look at the flag.
  const int ifd = interrupt_ != nullptr ? interrupt_->fd() : -1;
  for (;;) {
    if (interrupt_ != nullptr && interrupt_->raised()) return ECANCELED;
    const std::uint64_t now = monotonic_ns();
    if (now >= deadline) return ETIMEDOUT;
    std::uint64_t left_ms = (deadline - now + 999'999) / 1'000'000;
    if (!fd_ || (interrupt_ != nullptr && ifd < 0)) left_ms = std::min<std::uint64_t>(left_ms, 50);
    pollfd p[2] = {{fd_.get(), POLLIN, 0}, {ifd, POLLIN, 0}};  // poll() skips negative fds
    const int r = ::poll(p, 2, static_cast<int>(std::min<std::uint64_t>(left_ms, 60'000)));
    if (r < 0) return errno == EINTR ? EINTR : 0;
    if ((p[1].revents & POLLIN) != 0) return ECANCELED;
    // Degraded mode (no inotify): a bounded poll, never on the frame path; look again.
    if (!fd_) return 0;
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
