// Reader: attach/validate, the read side of the commit protocol, liveness and re-attach.
// docs/PROTOCOL.md walks through the protocol; each ordering point below names its pair.
#include "shmframe/reader.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "shmframe/detail/os.hpp"
#include "shmframe/detail/segment.hpp"
#include "shmframe/layout.hpp"

namespace shmframe {
namespace detail {

// Counters of one Reader, shared with its Frames (which may outlive an attachment).
struct ReaderCounters {
  ReaderStats s;
};

// One attached generation: the mapping, its validated geometry and our consumer entry.
struct Attachment {
  View view;
  std::uint32_t entry = 0;
  std::int32_t pid = 0;
  bool detached = false;  // entry given back; Frames must not touch it any more
  std::shared_ptr<ReaderCounters> counters;

  layout::ConsumerEntry& me() const noexcept { return view.consumer(entry); }
  // Frames call this; the Reader calls it too when it gives its entry back.
  void drop_lease(std::uint64_t packed) const noexcept {
    if (detached) return;
    std::uint64_t expected = packed;
    // release: our reads of the slot happen before the producer may see the slot free.
    at(me().lease).compare_exchange_strong(expected, 0, std::memory_order_release, std::memory_order_relaxed);
  }
};

namespace {

Event only(EventKind k) {
  Event e;
  e.kind = k;
  return e;
}

enum class Probe { attached, absent, not_ready, stale };

std::string tag(std::string_view name) { return "stream '" + std::string(name) + "'"; }

std::string describe_owner(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) return {};
  char buf[96];
  std::snprintf(buf, sizeof buf, " (owner uid %u, group %u, mode %04o)", st.st_uid, st.st_gid, st.st_mode & 07777u);
  return buf;
}

}  // namespace

struct ReaderImpl {
  std::string name;
  std::string object;
  std::string path;
  ReaderOptions opt;
  UniqueFd notify;  // inotify on /dev/shm: wakes us when our name is created/removed/resized
  std::shared_ptr<Attachment> att;
  std::shared_ptr<ReaderCounters> counters = std::make_shared<ReaderCounters>();
  std::uint64_t last_seq = 0;
  bool lost = false;
  // A segment we already gave up on (stuck INITIALIZING, closed, superseded): skip it until the
  // name refers to another object.
  dev_t skip_dev = 0;
  ino_t skip_ino = 0;
  // When we first saw the current not-ready segment, for the READY timeout.
  std::uint64_t not_ready_since = 0;

  void log(LogLevel l, const std::string& m) const {
    if (opt.log) opt.log(l, m);
  }

  void open_notify() {
    notify = UniqueFd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!notify) {
      log(LogLevel::warn, tag(name) + ": inotify unavailable (" + errno_text(errno) + "): polling for the stream every 50 ms");
      return;
    }
    const std::string dir(kShmDir);
    if (inotify_add_watch(notify.get(), dir.c_str(), IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MODIFY | IN_ATTRIB) < 0) {
      log(LogLevel::warn, tag(name) + ": cannot watch " + dir + " (" + errno_text(errno) + "): polling every 50 ms");
      notify.reset();
    }
  }

  // Blocks until something happens to our name in /dev/shm, or the deadline. Returns EINTR,
  // ETIMEDOUT or 0 (something changed).
  int wait_for_change(std::uint64_t deadline) noexcept {
    for (;;) {
      const std::uint64_t now = monotonic_ns();
      if (now >= deadline) return ETIMEDOUT;
      const std::uint64_t left_ms = (deadline - now + 999'999) / 1'000'000;
      if (!notify) {
        // Degraded mode only (no inotify): a bounded poll, never on the frame path.
        pollfd none{};
        int r = ::poll(&none, 0, static_cast<int>(std::min<std::uint64_t>(left_ms, 50)));
        if (r < 0 && errno == EINTR) return EINTR;
        return 0;
      }
      pollfd p{notify.get(), POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(std::min<std::uint64_t>(left_ms, 60'000)));
      if (r < 0) {
        if (errno == EINTR) return EINTR;
        return 0;
      }
      if (r == 0) continue;
      alignas(inotify_event) char buf[4096];
      bool ours = false;
      for (;;) {
        ssize_t n = ::read(notify.get(), buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t off = 0; off < n;) {
          auto* ev = reinterpret_cast<inotify_event*>(buf + off);
          if ((ev->mask & IN_Q_OVERFLOW) != 0) ours = true;
          if (ev->len > 0 && object.compare(1, std::string::npos, ev->name) == 0) ours = true;
          off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        }
      }
      if (ours) return 0;
    }
  }

  [[noreturn]] void fail(errc code, const std::string& msg) {
    auto& s = counters->s;
    switch (code) {
      case errc::abi_mismatch: ++s.version_mismatches; break;
      case errc::bad_magic: ++s.bad_magic; break;
      case errc::corrupt: ++s.corrupt; break;
      case errc::permission_denied: ++s.permission_denied; break;
      case errc::init_timeout:
      case errc::creator_died: ++s.init_failures; break;
      default: break;
    }
    throw Error(code, msg);
  }

  // One attempt to attach; throws Error for a stream that exists but cannot be used. `deadline`
  // bounds the wait for READY.
  Probe try_attach(std::uint64_t deadline) {
    UniqueFd fd(shm_open(object.c_str(), O_RDWR, 0));
    if (!fd) {
      const int e = errno;
      if (e == ENOENT) return Probe::absent;
      if (e == EACCES || e == EPERM) {
        fail(errc::permission_denied, tag(name) + ": permission denied opening " + path + describe_owner(path) +
                                          ": run the consumer as the producer's user, or start the producer with " +
                                          "--mode 0660 and put both users in its group");
      }
      fail(errc::system_error, tag(name) + ": cannot open " + path + ": " + errno_text(e));
    }
    struct stat st{};
    if (fstat(fd.get(), &st) != 0) fail(errc::system_error, tag(name) + ": fstat " + path + ": " + errno_text(errno));
    if (st.st_dev == skip_dev && st.st_ino == skip_ino) return Probe::stale;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size < sizeof(layout::SegmentHeader)) return not_ready(st);
    // Map lazily: nothing is faulted in until the header has been validated (a huge sparse
    // object under our name must not make us allocate it). Populated after validation.
    auto map = map_object(fd.get(), size, name, false);
    auto& h = map->header();
    for (;;) {
      // acquire: pairs with the creator's release store of READY; everything in the header is
      // then visible, and we snapshot it before validating.
      const std::uint32_t state = at(h.state).load(std::memory_order_acquire);
      if (state == static_cast<std::uint32_t>(layout::State::ready)) break;
      if (state == static_cast<std::uint32_t>(layout::State::closed) ||
          state == static_cast<std::uint32_t>(layout::State::superseded)) {
        validate_or_count(h);
        skip_dev = st.st_dev;
        skip_ino = st.st_ino;
        return Probe::stale;
      }
      if (state != 0 && state != static_cast<std::uint32_t>(layout::State::initializing)) {
        validate_or_count(h);
        fail(errc::corrupt, tag(name) + ": corrupt segment header: state " + std::to_string(state) +
                                " is not a known state; restart its producer (it replaces the segment)");
      }
      if (state != 0) validate_or_count(h);
      // INITIALIZING: the creator is still writing. Wait on the state word (the creator wakes
      // it after storing READY), bounded by the READY timeout.
      const std::uint64_t ready_deadline = start_ready_clock();
      const std::uint64_t now = monotonic_ns();
      if (now >= ready_deadline) {
        const std::int32_t pid = h.writer_pid;
        not_ready_since = 0;
        skip_dev = st.st_dev;
        skip_ino = st.st_ino;
        if (pid > 0 && !process_alive(pid, 0)) {
          fail(errc::creator_died, tag(name) + ": its creator (pid " + std::to_string(pid) +
                                       ") died during initialization; the next producer for this name replaces it");
        }
        fail(errc::init_timeout, tag(name) + ": still initializing after " +
                                     std::to_string(opt.ready_timeout.count()) + " ms (creator pid " +
                                     std::to_string(pid) + "); is the producer stuck?");
      }
      if (now >= deadline) return Probe::not_ready;
      int r = futex_wait(&h.state, state, std::min(ready_deadline, deadline) - now);
      if (r == EINTR) return Probe::not_ready;
    }
    not_ready_since = 0;
    layout::SegmentHeader snap;
    std::memcpy(&snap, &h, sizeof snap);
    Geometry geo;
    try {
      geo = validate_header(snap, size, name);
    } catch (const Error& e) {
      fail(e.value(), e.what());
    }
#ifdef MADV_POPULATE_READ
    // Pre-fault the page tables so the first frames cost no minor faults (best effort).
    if (geo.total_size <= (1ull << 30)) (void)madvise(map->base(), map->size(), MADV_POPULATE_READ);
#endif
    auto a = std::make_shared<Attachment>();
    a->view = View{std::move(map), geo};
    a->pid = static_cast<std::int32_t>(getpid());
    a->counters = counters;
    a->entry = claim_entry(a->view, a->pid);
    att = std::move(a);
    last_seq = 0;
    lost = false;
    ++counters->s.attaches;
    if (geo.writer_uid != geteuid()) {
      log(LogLevel::warn, tag(name) + ": produced by another user (uid " + std::to_string(geo.writer_uid) + ")");
    }
    return Probe::attached;
  }

  void validate_or_count(const layout::SegmentHeader& h) {
    layout::SegmentHeader snap;
    std::memcpy(&snap, &h, sizeof snap);
    try {
      validate_identity(snap, name);
    } catch (const Error& e) {
      fail(e.value(), e.what());
    }
  }

  Probe not_ready(const struct stat& st) {
    // The object exists but is not even sized yet: the creator is between shm_open and
    // fallocate. inotify reports the resize (IN_MODIFY); the READY timeout bounds it.
    if (monotonic_ns() >= start_ready_clock()) {
      not_ready_since = 0;
      skip_dev = st.st_dev;
      skip_ino = st.st_ino;
      fail(errc::creator_died, tag(name) + ": " + path + " stayed empty for " + std::to_string(opt.ready_timeout.count()) +
                                   " ms: its creator died during initialization; the next producer replaces it");
    }
    return Probe::not_ready;
  }

  // While a segment is stuck before READY, wake up in time to report it.
  std::uint64_t change_deadline(std::uint64_t deadline) const noexcept {
    if (not_ready_since == 0) return deadline;
    return std::min(deadline, ready_deadline());
  }

  // When the segment seen not READY since not_ready_since must be reported.
  std::uint64_t ready_deadline() const noexcept {
    return not_ready_since + static_cast<std::uint64_t>(std::chrono::nanoseconds(opt.ready_timeout).count());
  }
  // Starts the READY clock at the first sight of a not-ready segment; returns its deadline.
  std::uint64_t start_ready_clock() noexcept {
    if (not_ready_since == 0) not_ready_since = monotonic_ns();
    return ready_deadline();
  }

  std::uint32_t claim_entry(const View& v, std::int32_t pid) {
    const std::uint64_t ticks = process_start_ticks(pid);
    auto init = [&](std::uint32_t i) {
      auto& e = v.consumer(i);
      e.owner_start_ticks = ticks;
      at(e.heartbeat_ns).store(monotonic_ns(), std::memory_order_relaxed);
      at(e.lease).store(0, std::memory_order_relaxed);
      at(e.last_seq).store(0, std::memory_order_relaxed);
      at(e.frames).store(0, std::memory_order_relaxed);
      at(e.drops).store(0, std::memory_order_relaxed);
      at(e.overruns).store(0, std::memory_order_relaxed);
      at(e.waiting).store(0, std::memory_order_relaxed);
      // release: the fields above are initialized before the producer's tools see the entry active.
      at(e.active).store(1, std::memory_order_release);
      return i;
    };
    for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
      std::int32_t expected = 0;
      // seq_cst: store->load pair with Writer commit (store last_committed_seq, load owner_pid); our
      // next load of last_committed_seq (in wait) then sees every commit the producer skipped us for.
      if (at(v.consumer(i).owner_pid).compare_exchange_strong(expected, pid, std::memory_order_seq_cst)) return init(i);
    }
    // Table full: take over an entry whose owner is dead (the producer reaps these too, but
    // maybe not yet).
    const std::uint64_t now = monotonic_ns();
    for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
      auto& e = v.consumer(i);
      std::int32_t owner = at(e.owner_pid).load(std::memory_order_relaxed);
      // owner < 0: the producer is reclaiming it right now; leave it to the producer.
      if (owner > 0 && consumer_dead(e, owner, now, v.geo.heartbeat_interval_ns) &&
          at(e.owner_pid).compare_exchange_strong(owner, pid, std::memory_order_seq_cst)) {
        return init(i);
      }
    }
    fail(errc::too_many_consumers, tag(name) + ": all " + std::to_string(v.geo.max_consumers) +
                                       " consumer entries are taken by live consumers; stop one, or restart the " +
                                       "producer with a larger consumer table");
  }

  void give_back() noexcept {
    if (!att) return;
    auto& e = att->me();
    at(e.lease).store(0, std::memory_order_release);
    at(e.active).store(0, std::memory_order_relaxed);
    at(e.waiting).store(0, std::memory_order_relaxed);
    std::int32_t expected = att->pid;
    at(e.owner_pid).compare_exchange_strong(expected, 0, std::memory_order_release);
    att->detached = true;
    att.reset();
    lost = false;
  }

  // Takes frame `seq` if a slot holds it: lease, then re-check (see the Writer's acquire()).
  Frame take(std::uint64_t seq) noexcept {
    Frame f;
    if (!att || seq == 0) return f;
    const View& v = att->view;
    for (std::uint32_t i = 0; i < v.geo.slot_count; ++i) {
      auto& s = v.slot(i);
      // acquire: pairs with the release store of the committed word in Writer::commit; the
      // pixels, metadata and timestamps of `seq` are visible once we see it.
      if (at(s.state).load(std::memory_order_acquire) != layout::slot_committed(seq)) continue;
      const std::uint64_t capture = s.capture_ns;
      const std::uint64_t commit = s.commit_ns;
      const std::uint32_t meta = std::min(s.metadata_size, v.geo.metadata_capacity);  // untrusted: clamp
      const std::uint64_t packed = layout::lease_pack(i, seq);
      const std::uint64_t previous = at(att->me().lease).load(std::memory_order_relaxed);
      // seq_cst store, then seq_cst re-load: Dekker pair with the Writer's mark + lease scan.
      at(att->me().lease).store(packed, std::memory_order_seq_cst);
      if (at(s.state).load(std::memory_order_seq_cst) != layout::slot_committed(seq)) {
        // Overwritten between the two loads: give the lease back to the frame that had it.
        std::uint64_t expected = packed;
        at(att->me().lease).compare_exchange_strong(expected, previous, std::memory_order_seq_cst);
        return f;
      }
      f.att_ = att;
      f.slot_ = i;
      f.seq_ = seq;
      f.capture_ns_ = capture;
      f.commit_ns_ = commit;
      f.data_ = v.pixels(i);
      f.metadata_ = v.metadata(i);
      f.metadata_size_ = meta;
      const auto& fmt = v.geo.format;
      f.mat_ = cv::Mat(static_cast<int>(fmt.height), static_cast<int>(fmt.width), cv_type(fmt.pixel_format),
                       const_cast<std::byte*>(f.data_), fmt.stride);
      return f;
    }
    return f;
  }

  Frame take_latest() noexcept {
    if (!att) return {};
    std::uint64_t tried = 0;
    for (int attempt = 0; attempt < 64; ++attempt) {
      // acquire: pairs with the store of last_committed_seq in Writer::commit.
      const std::uint64_t seq = at(att->view.header().last_committed_seq).load(std::memory_order_acquire);
      // No frame yet, or the newest one is unreadable and nothing newer came (one slot being
      // rewritten, or a producer that died mid-write): nothing to take, and no overrun.
      if (seq == 0 || seq == tried) return {};
      Frame f = take(seq);
      if (f) return f;
      // The producer lapped us between the two loads; count it and try the newer frame.
      if (tried != 0) ++counters->s.overruns;
      tried = seq;
    }
    return {};
  }

  bool producer_lost(const View& v) const noexcept {
    const std::uint64_t now = monotonic_ns();
    const std::uint64_t beat = at(v.header().heartbeat_ns).load(std::memory_order_relaxed);
    const std::uint64_t age = now > beat ? now - beat : 0;
    const std::uint64_t interval = v.geo.heartbeat_interval_ns;
    if (age > 3 * interval) return true;
    // A dead pid is believed once the heartbeat has also missed a beat (pid namespaces can make
    // a live producer look dead to kill()).
    return age > interval + interval / 2 && !process_alive(v.geo.writer_pid, v.geo.writer_start_ticks);
  }

  bool name_moved_on() const noexcept {
    struct stat st{};
    if (stat(path.c_str(), &st) != 0) return false;  // gone: wait for the next one
    return st.st_ino != att->view.map->ino() || st.st_dev != att->view.map->dev();
  }

  Event wait(std::chrono::nanoseconds timeout) noexcept;
};

Event ReaderImpl::wait(std::chrono::nanoseconds timeout) noexcept {
  const std::uint64_t start = monotonic_ns();
  const std::uint64_t deadline = start + static_cast<std::uint64_t>(std::max<std::int64_t>(0, timeout.count()));
  Event ev;
  for (;;) {
    if (!att) {
      Probe p;
      try {
        p = try_attach(deadline);
      } catch (const Error& e) {
        ev.kind = EventKind::error;
        ev.error = e.code();
        ev.message = e.what();
        return ev;
      }
      if (p == Probe::attached) {
        ev.kind = EventKind::attached;
        ev.generation = att->view.geo.generation;
        return ev;
      }
      int r = wait_for_change(change_deadline(deadline));
      if (r == EINTR) return only(EventKind::interrupted);
      if (r == ETIMEDOUT && monotonic_ns() >= deadline) return only(EventKind::timeout);
      continue;
    }
    const View& v = att->view;
    auto& me = att->me();
    const std::uint64_t now = monotonic_ns();
    at(me.heartbeat_ns).store(now, std::memory_order_relaxed);
    if (at(me.owner_pid).load(std::memory_order_relaxed) != att->pid) {
      // The producer reclaimed our entry (we looked dead, e.g. stopped for long): re-attach.
      log(LogLevel::warn, tag(name) + ": our consumer entry was reclaimed; re-attaching");
      att->detached = true;
      att.reset();
      continue;
    }
    // acquire: read the wake word before the state we check, so a commit after this point
    // changes the word and FUTEX_WAIT below returns at once.
    const std::uint32_t w = at(me.wake).load(std::memory_order_acquire);
    const auto state = at(v.header().state).load(std::memory_order_acquire);
    if (state == static_cast<std::uint32_t>(layout::State::superseded)) {
      give_back();
      continue;
    }
    if (state == static_cast<std::uint32_t>(layout::State::closed)) {
      ev.kind = EventKind::closed;
      ev.generation = v.geo.generation;
      skip_dev = v.map->dev();
      skip_ino = v.map->ino();
      give_back();
      return ev;
    }
    const std::uint64_t latest = at(v.header().last_committed_seq).load(std::memory_order_acquire);
    if (latest > last_seq) {
      Frame f;
      if (opt.every_frame && last_seq != 0 && last_seq + 1 < latest) f = take(last_seq + 1);
      if (!f) f = take_latest();
      if (f && f.seq() > last_seq) {
        const std::uint64_t missed = last_seq != 0 ? f.seq() - last_seq - 1 : 0;
        last_seq = f.seq();
        counters->s.frames += 1;
        counters->s.drops += missed;
        // relaxed: statistics for observers; no data depends on them.
        at(me.last_seq).store(last_seq, std::memory_order_relaxed);
        at(me.frames).fetch_add(1, std::memory_order_relaxed);
        if (missed != 0) at(me.drops).fetch_add(missed, std::memory_order_relaxed);
        if (lost) lost = false;  // the producer came back (e.g. SIGCONT)
        ev.kind = EventKind::frame;
        ev.generation = v.geo.generation;
        ev.dropped = missed;
        ev.frame = std::move(f);
        return ev;
      }
      // Lapped while taking it, or the header names a frame no slot holds (corruption): wait
      // below. `w` was read first, so a commit since then ends the wait at once.
    }
    if (now >= deadline) return only(EventKind::timeout);
    const std::uint64_t slice = std::min(deadline - now, v.geo.heartbeat_interval_ns);
    if (lost) {
      // Keep the old mapping (frames taken stay readable) until a new generation shows up.
      if (name_moved_on()) {
        give_back();
        continue;
      }
      if (!producer_lost(v)) {
        lost = false;  // beating again (e.g. SIGCONT)
        continue;
      }
      int r = wait_for_change(now + slice);
      if (r == EINTR) return only(EventKind::interrupted);
      continue;
    }
    if (producer_lost(v)) {
      lost = true;
      ++counters->s.producer_lost;
      ev.kind = EventKind::producer_lost;
      ev.generation = v.geo.generation;
      ev.message = tag(name) + ": producer pid " + std::to_string(v.geo.writer_pid) + " stopped beating";
      return ev;
    }
    // seq_cst: Dekker pair with WriterImpl::wake_consumers (wake++ then load waiting).
    at(me.waiting).store(1, std::memory_order_seq_cst);
    int r = futex_wait(&me.wake, w, slice);
    at(me.waiting).store(0, std::memory_order_relaxed);
    if (r == EINTR) return only(EventKind::interrupted);
  }
}

}  // namespace detail

using detail::at;

std::string_view to_string(EventKind k) noexcept {
  switch (k) {
    case EventKind::frame: return "frame";
    case EventKind::attached: return "attached";
    case EventKind::producer_lost: return "producer_lost";
    case EventKind::closed: return "closed";
    case EventKind::timeout: return "timeout";
    case EventKind::interrupted: return "interrupted";
    case EventKind::error: return "error";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------
Frame::Frame(Frame&& o) noexcept { *this = std::move(o); }

Frame& Frame::operator=(Frame&& o) noexcept {
  if (this != &o) {
    release();
    att_ = std::move(o.att_);
    slot_ = o.slot_;
    seq_ = o.seq_;
    capture_ns_ = o.capture_ns_;
    commit_ns_ = o.commit_ns_;
    data_ = o.data_;
    metadata_ = o.metadata_;
    metadata_size_ = o.metadata_size_;
    mat_ = std::move(o.mat_);
    o.att_.reset();
    o.mat_ = cv::Mat();
  }
  return *this;
}

Frame::~Frame() { release(); }

std::uint64_t Frame::generation() const noexcept { return att_ ? att_->view.geo.generation : 0; }

const FrameFormat& Frame::format() const noexcept {
  static const FrameFormat none{};
  return att_ ? att_->view.geo.format : none;
}

bool Frame::still_valid() const noexcept {
  if (!att_) return false;
  // acquire fence: orders our earlier (racy, by design) reads of the pixels before the load
  // below; pairs with the release fence after the writing mark in Writer::acquire(). If the
  // word still says committed(seq), no write to this slot had started when we read it.
  std::atomic_thread_fence(std::memory_order_acquire);
  return at(att_->view.slot(slot_).state).load(std::memory_order_relaxed) == layout::slot_committed(seq_);
}

void Frame::release() noexcept {
  if (!att_) return;
  if (!still_valid()) {
    ++att_->counters->s.overruns;
    if (!att_->detached) at(att_->me().overruns).fetch_add(1, std::memory_order_relaxed);
  }
  att_->drop_lease(layout::lease_pack(slot_, seq_));
  att_.reset();
  mat_ = cv::Mat();
}

// ---------------------------------------------------------------------------------------
Reader::Reader(std::string_view name, ReaderOptions options) : impl_(std::make_unique<detail::ReaderImpl>()) {
  if (auto why = check_stream_name(name)) throw Error(errc::invalid_name, "invalid stream name '" + std::string(name) + "': " + *why);
  impl_->name = std::string(name);
  impl_->object = detail::segment_object(name);
  impl_->path = detail::object_path(impl_->object);
  impl_->opt = std::move(options);
  impl_->open_notify();
}

Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&& o) noexcept {
  if (this != &o) {
    detach();
    impl_ = std::move(o.impl_);
  }
  return *this;
}
Reader::~Reader() { detach(); }

void Reader::attach(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  if (d.att) return;
  const std::uint64_t deadline = detail::monotonic_ns() + static_cast<std::uint64_t>(std::chrono::nanoseconds(timeout).count());
  d.skip_dev = 0;
  d.skip_ino = 0;
  for (;;) {
    if (d.try_attach(deadline) == detail::Probe::attached) return;
    if (d.wait_for_change(d.change_deadline(deadline)) == ETIMEDOUT && detail::monotonic_ns() >= deadline) break;
  }
  if (d.not_ready_since != 0) {
    throw Error(errc::init_timeout, "stream '" + d.name + "': not READY within " + std::to_string(timeout.count()) + " ms");
  }
  throw Error(errc::not_found, "stream '" + d.name + "' not found (no " + d.path + " after " +
                                   std::to_string(timeout.count()) + " ms): start a producer with --name " + d.name);
}

bool Reader::attached() const noexcept { return impl_ && impl_->att != nullptr; }
void Reader::detach() noexcept {
  if (impl_) impl_->give_back();
}

Event Reader::wait(std::chrono::nanoseconds timeout) noexcept { return impl_->wait(timeout); }
Frame Reader::latest() noexcept { return impl_->take_latest(); }
Frame Reader::read(std::uint64_t seq) noexcept { return impl_->take(seq); }

bool Reader::copy_latest(cv::Mat& out, std::uint64_t* seq) noexcept {
  for (int attempt = 0; attempt < 64; ++attempt) {
    Frame f = impl_->take_latest();
    if (!f) return false;
    try {
      f.mat().copyTo(out);
    } catch (...) {
      return false;
    }
    // Validate after copying (seqlock read): a copy taken while the slot was being rewritten
    // is discarded and retried with the newer frame.
    if (f.still_valid()) {
      if (seq != nullptr) *seq = f.seq();
      return true;
    }
  }
  return false;
}

const std::string& Reader::name() const noexcept { return impl_->name; }

StreamInfo Reader::info() const noexcept {
  if (!impl_->att) return {};
  return detail::stream_info(impl_->att->view);
}

ReaderStats Reader::stats() const noexcept { return impl_->counters->s; }

}  // namespace shmframe
