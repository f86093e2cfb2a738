// Writer: ownership, generations and the write side of the commit protocol.
// docs/PROTOCOL.md walks through the protocol; each ordering point below names its pair.
#include "shmframe/writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "shmframe/detail/copy.hpp"
#include "shmframe/detail/os.hpp"
#include "shmframe/detail/segment.hpp"
#include "shmframe/layout.hpp"

namespace shmframe {
namespace detail {

namespace {

// Content of the lock object: who owns the name and the last generation it created, so a
// successor continues the generation count even when the old segment is unreadable.
struct LockRecord {
  std::uint64_t magic;
  std::uint64_t last_generation;
  std::int32_t pid;
  std::uint32_t reserved;
};
static_assert(sizeof(LockRecord) == 24);
constexpr std::uint64_t kLockMagic = 0x4B434F4C464D4853ull;  // "SHMFLOCK"

std::string stream_tag(std::string_view name) { return "stream '" + std::string(name) + "'"; }

[[noreturn]] void throw_os(std::string_view name, const std::string& what, int err) {
  errc code = (err == EACCES || err == EPERM) ? errc::permission_denied : errc::system_error;
  std::string hint;
  if (code == errc::permission_denied) {
    hint = ": it belongs to another user; run as that user, or remove it as its owner";
  } else if (err == ENOSPC || err == EFBIG) {
    hint = ": not enough space in /dev/shm (check `df -h /dev/shm`; lower the frame size or --slots)";
  }
  throw Error(code, stream_tag(name) + ": " + what + ": " + errno_text(err) + hint);
}

}  // namespace

struct WriterImpl {
  std::string name;
  WriterOptions opt;
  UniqueFd lock_fd;
  UniqueFd seg_fd;
  View view;                 // current generation; replaced only by the driving thread under mu
  std::uint64_t next_seq = 1;
  std::int64_t last_slot = -1;
  std::uint64_t last_generation = 0;  // highest generation seen or created under this name
  bool outstanding = false;  // a WriteSlot is out
  bool closed = false;

  mutable std::mutex mu;     // guards `view` replacement against the heartbeat thread
  std::condition_variable cv;
  bool stop = false;
  std::thread heartbeat;

  void log(LogLevel level, const std::string& msg) const {
    if (opt.log) opt.log(level, msg);
  }

  // Generations only grow; 0 is never used (readers reject it), even after a wrap.
  std::uint64_t next_generation() const noexcept { return last_generation + 1 == 0 ? 1 : last_generation + 1; }
  void acquire_lock();
  std::uint64_t take_over_existing();
  void create_generation(const FrameFormat& format, std::uint64_t generation);
  void retire_current(layout::State state) noexcept;
  void write_lock_record(std::uint64_t generation) noexcept;
  bool leased(std::uint32_t slot) const noexcept;
  void wake_consumers(std::uint64_t seq) const noexcept;
  void beat_and_reap() noexcept;
  void abort_slot(std::uint32_t slot) noexcept;
};

void WriterImpl::acquire_lock() {
  const std::string object = lock_object(name);
  const std::string path = object_path(object);
  for (int attempt = 0; attempt < 16; ++attempt) {
    UniqueFd fd(shm_open(object.c_str(), O_RDWR | O_CREAT, opt.mode));
    if (!fd) throw_os(name, "cannot open the producer lock " + path, errno);
    if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) throw_os(name, "cannot lock " + path, errno);
      LockRecord rec{};
      std::string owner = "another process";
      if (pread(fd.get(), &rec, sizeof rec, 0) == static_cast<ssize_t>(sizeof rec) && rec.magic == kLockMagic) {
        owner = "pid " + std::to_string(rec.pid);
      }
      throw Error(errc::already_owned, stream_tag(name) + " is already produced by " + owner +
                                           " (a live producer holds " + path +
                                           "): stop that producer first, or use another --name");
    }
    // The previous owner may have unlinked the lock between our open and our flock; then we
    // hold a lock on a dead inode and must start over.
    struct stat held{}, named{};
    if (fstat(fd.get(), &held) != 0) throw_os(name, "fstat " + path, errno);
    if (stat(path.c_str(), &named) != 0 || named.st_ino != held.st_ino || named.st_dev != held.st_dev) continue;
    if (held.st_uid == geteuid()) (void)fchmod(fd.get(), opt.mode);  // umask must not widen or narrow --mode
    lock_fd = std::move(fd);
    return;
  }
  throw Error(errc::system_error, stream_tag(name) + ": the producer lock kept changing under us; retry");
}

void WriterImpl::write_lock_record(std::uint64_t generation) noexcept {
  LockRecord rec{kLockMagic, generation, static_cast<std::int32_t>(getpid()), 0};
  if (pwrite(lock_fd.get(), &rec, sizeof rec, 0) != static_cast<ssize_t>(sizeof rec)) {
    log(LogLevel::warn, stream_tag(name) + ": cannot record the generation in the lock: " + errno_text(errno));
  }
}

// Called with the lock held: whatever segment has the name now belongs to a producer that
// is gone (dead, or closed without unlinking). Retire it so its consumers move on.
std::uint64_t WriterImpl::take_over_existing() {
  std::uint64_t last_gen = 0;
  LockRecord rec{};
  if (pread(lock_fd.get(), &rec, sizeof rec, 0) == static_cast<ssize_t>(sizeof rec) && rec.magic == kLockMagic) {
    last_gen = rec.last_generation;
  }
  const std::string object = segment_object(name);
  UniqueFd fd(shm_open(object.c_str(), O_RDWR, 0));
  if (!fd) {
    if (errno == ENOENT) return last_gen;
    throw_os(name, "cannot open the old segment " + object_path(object) + " to take it over", errno);
  }
  struct stat st{};
  if (fstat(fd.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) >= sizeof(layout::SegmentHeader)) {
    try {
      auto map = map_object(fd.get(), static_cast<std::uint64_t>(st.st_size), name, false);
      layout::SegmentHeader snap;
      std::memcpy(&snap, &map->header(), sizeof snap);
      validate_identity(snap, name);
      last_gen = std::max(last_gen, snap.generation);
      // release: consumers that see SUPERSEDED re-open the name; pairs with their acquire load of state.
      at(map->header().state).store(static_cast<std::uint32_t>(layout::State::superseded), std::memory_order_release);
      futex_wake_all(&map->header().state);
      try {
        View old{map, validate_header(snap, static_cast<std::uint64_t>(st.st_size), name)};
        old.wake_all_consumers();
      } catch (const Error&) {
        // Layout unreadable: its consumers find out through the heartbeat and the unlink.
      }
      log(LogLevel::info, stream_tag(name) + ": taking over from producer pid " + std::to_string(snap.writer_pid) +
                              " (generation " + std::to_string(snap.generation) + ")");
    } catch (const Error& e) {
      log(LogLevel::warn, stream_tag(name) + ": replacing an unusable segment: " + e.what());
    }
  }
  if (shm_unlink(object.c_str()) != 0 && errno != ENOENT) {
    throw_os(name, "cannot remove the old segment " + object_path(object), errno);
  }
  return last_gen;
}

void WriterImpl::create_generation(const FrameFormat& format, std::uint64_t generation) {
  Geometry geo = plan_geometry(name, format, opt.slots, opt.max_consumers, opt.metadata_capacity);
  geo.generation = generation;
  geo.heartbeat_interval_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(opt.heartbeat).count());
  const std::string object = segment_object(name);
  UniqueFd fd(shm_open(object.c_str(), O_RDWR | O_CREAT | O_EXCL, opt.mode));
  if (!fd && errno == EEXIST) {
    // We hold the lock, so this is debris (e.g. a creator killed before it could unlink).
    shm_unlink(object.c_str());
    fd = UniqueFd(shm_open(object.c_str(), O_RDWR | O_CREAT | O_EXCL, opt.mode));
  }
  if (!fd) throw_os(name, "cannot create " + object_path(object), errno);
  try {
    if (fchmod(fd.get(), opt.mode) != 0) throw_os(name, "fchmod", errno);
    // fallocate reserves the pages now: a full /dev/shm is an error here, not a SIGBUS mid-frame.
    int err = posix_fallocate(fd.get(), 0, static_cast<off_t>(geo.total_size));
    if (err != 0) throw_os(name, "cannot reserve " + std::to_string(geo.total_size) + " bytes", err);
    auto map = map_object(fd.get(), geo.total_size, name, opt.prefault);
    auto& h = map->header();
    h.magic = layout::kMagic;
    h.abi_version = layout::kAbiVersion;
    h.header_size = sizeof(layout::SegmentHeader);
    h.total_size = geo.total_size;
    h.generation = generation;
    h.writer_pid = static_cast<std::int32_t>(getpid());
    h.writer_uid = geteuid();
    h.writer_start_ticks = process_start_ticks(getpid());
    h.created_realtime_ns = realtime_ns();
    // release: a joiner that sees INITIALIZING may read the identity and writer pid above.
    at(h.state).store(static_cast<std::uint32_t>(layout::State::initializing), std::memory_order_release);
    if (opt.test_hook_initializing) opt.test_hook_initializing();
    h.width = geo.format.width;
    h.height = geo.format.height;
    h.stride = geo.format.stride;
    h.pixel_format = static_cast<std::uint32_t>(geo.format.pixel_format);
    h.bytes_per_pixel = geo.bytes_per_pixel;
    h.slot_count = geo.slot_count;
    h.max_consumers = geo.max_consumers;
    h.metadata_capacity = geo.metadata_capacity;
    h.frame_bytes = geo.frame_bytes;
    h.slots_offset = geo.slots_offset;
    h.slot_stride = geo.slot_stride;
    h.pixel_offset = geo.pixel_offset;
    h.consumers_offset = geo.consumers_offset;
    h.consumer_stride = geo.consumer_stride;
    h.heartbeat_interval_ns = geo.heartbeat_interval_ns;
    h.heartbeat_ns = monotonic_ns();
    geo.writer_pid = h.writer_pid;
    geo.writer_uid = h.writer_uid;
    geo.writer_start_ticks = h.writer_start_ticks;
    // release: publishes every field above; pairs with the acquire load of state in the Reader's attach.
    at(h.state).store(static_cast<std::uint32_t>(layout::State::ready), std::memory_order_release);
    futex_wake_all(&h.state);
    {
      std::lock_guard lk(mu);
      view = View{std::move(map), geo};
    }
    seg_fd = std::move(fd);
    last_generation = generation;
    next_seq = 1;
    last_slot = -1;
    write_lock_record(generation);
  } catch (...) {
    shm_unlink(object.c_str());
    throw;
  }
}

void WriterImpl::retire_current(layout::State state) noexcept {
  if (!view.map) return;
  auto& h = view.header();
  // release: consumers that load this state (acquire) stop using the segment.
  at(h.state).store(static_cast<std::uint32_t>(state), std::memory_order_release);
  futex_wake_all(&h.state);
  view.wake_all_consumers();
  // Unlink only if the name still refers to our object.
  struct stat st{};
  const std::string object = segment_object(name);
  if (stat(object_path(object).c_str(), &st) == 0 && st.st_ino == view.map->ino() && st.st_dev == view.map->dev()) {
    shm_unlink(object.c_str());
  }
  std::lock_guard lk(mu);
  view = View{};
  seg_fd.reset();
}

bool WriterImpl::leased(std::uint32_t slot) const noexcept {
  for (std::uint32_t i = 0; i < view.geo.max_consumers; ++i) {
    auto& e = view.consumer(i);
    // seq_cst: Dekker pair with the Reader, which stores its lease (seq_cst) and then re-loads
    // the slot state (seq_cst); either we see its lease here, or it sees our writing mark.
    std::uint64_t l = at(e.lease).load(std::memory_order_seq_cst);
    if (l != 0 && (l & 0xffu) == slot + 1u && at(e.owner_pid).load(std::memory_order_relaxed) != 0) return true;
  }
  return false;
}

void WriterImpl::wake_consumers(std::uint64_t seq) const noexcept {
  // Start at a different entry every frame: with more consumers than CPUs the ones woken
  // last wait for the others to run, and no consumer should always be last.
  const std::uint32_t n = view.geo.max_consumers;
  const auto first = static_cast<std::uint32_t>(seq % n);
  for (std::uint32_t k = 0; k < n; ++k) {
    auto& e = view.consumer((first + k) % n);
    // seq_cst store->load pair with Reader::claim_entry (CAS owner_pid, then load last_committed_seq):
    // a consumer we skip here as unclaimed is guaranteed to see the commit we just made.
    if (at(e.owner_pid).load(std::memory_order_seq_cst) == 0) continue;
    // seq_cst Dekker pair with the consumer's `waiting = 1; FUTEX_WAIT(wake, w)`: either we see
    // waiting and wake it, or its FUTEX_WAIT sees the new wake value and returns at once.
    at(e.wake).fetch_add(1, std::memory_order_seq_cst);
    if (at(e.waiting).load(std::memory_order_seq_cst) != 0) futex_wake_all(&e.wake);
  }
}

void WriterImpl::abort_slot(std::uint32_t slot) noexcept {
  if (!view.map) return;
  // The slot's pixels are partly overwritten: it holds no frame any more.
  at(view.slot(slot).state).store(0, std::memory_order_release);
  at(view.header().commits_aborted).fetch_add(1, std::memory_order_relaxed);
  outstanding = false;
}

void WriterImpl::beat_and_reap() noexcept {
  View v;
  {
    std::lock_guard lk(mu);
    v = view;
  }
  if (!v.map) return;
  const std::uint64_t now = monotonic_ns();
  // relaxed: the heartbeat carries no data; readers only compare its age.
  at(v.header().heartbeat_ns).store(now, std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < v.geo.max_consumers; ++i) {
    auto& e = v.consumer(i);
    std::int32_t pid = at(e.owner_pid).load(std::memory_order_acquire);
    if (pid == 0) continue;
    if (pid < 0) continue;  // another reaper's sentinel (cannot happen with one producer; be safe)
    if (!consumer_dead(e, pid, now, v.geo.heartbeat_interval_ns)) continue;
    // Claim the entry with the reaping sentinel before touching it, so a consumer that takes
    // the entry meanwhile (Reader::claim_entry) cannot have its fresh fields wiped.
    std::int32_t expected = pid;
    if (!at(e.owner_pid).compare_exchange_strong(expected, kReaping, std::memory_order_acq_rel)) continue;
    at(e.lease).store(0, std::memory_order_seq_cst);  // the slot is free as soon as the entry is
    at(e.active).store(0, std::memory_order_relaxed);
    at(e.waiting).store(0, std::memory_order_relaxed);
    // release: the cleared fields are visible before the entry can be claimed again.
    at(e.owner_pid).store(0, std::memory_order_release);
    at(v.header().consumers_reaped).fetch_add(1, std::memory_order_relaxed);
    log(LogLevel::info, stream_tag(name) + ": reclaimed consumer entry " + std::to_string(i) + " of dead pid " + std::to_string(pid));
  }
}

}  // namespace detail

using detail::at;

// ---------------------------------------------------------------------------------------
WriteSlot::WriteSlot(WriteSlot&& o) noexcept
    : writer_(std::move(o.writer_)), map_(std::move(o.map_)), mat_(std::move(o.mat_)), data_(std::exchange(o.data_, nullptr)),
      slot_(o.slot_), seq_(o.seq_), generation_(o.generation_) {}

WriteSlot& WriteSlot::operator=(WriteSlot&& o) noexcept {
  if (this != &o) {
    abandon();
    writer_ = std::move(o.writer_);
    map_ = std::move(o.map_);
    mat_ = std::move(o.mat_);
    data_ = std::exchange(o.data_, nullptr);
    slot_ = o.slot_;
    seq_ = o.seq_;
    generation_ = o.generation_;
  }
  return *this;
}

WriteSlot::~WriteSlot() { abandon(); }

void WriteSlot::abandon() noexcept {
  if (data_ == nullptr) return;
  // Only the slot the live writer still considers outstanding, in the generation it was taken
  // from: a retired generation's slot is nobody's business any more.
  if (auto w = writer_.lock(); w && w->outstanding && w->view.map == map_ && w->view.geo.generation == generation_) {
    w->abort_slot(slot_);
  }
  writer_.reset();
  map_.reset();
  mat_.release();
  data_ = nullptr;
}

Writer::Writer(std::string_view name, WriterOptions options) : impl_(std::make_shared<detail::WriterImpl>()) {
  if (auto why = check_stream_name(name)) throw Error(errc::invalid_name, "invalid stream name '" + std::string(name) + "': " + *why);
  if (options.heartbeat < std::chrono::milliseconds(1) || options.heartbeat > std::chrono::seconds(60)) {
    throw Error(errc::invalid_argument, "stream '" + std::string(name) + "': heartbeat must be 1 ms .. 60 s");
  }
  if ((options.mode & ~static_cast<mode_t>(0777)) != 0 || (options.mode & 0600) != 0600) {
    throw Error(errc::invalid_argument, "stream '" + std::string(name) + "': mode must be an octal permission " +
                                            "set that includes owner read+write (0600), e.g. 0600 or 0660");
  }
  auto& d = *impl_;
  d.name = std::string(name);
  d.opt = std::move(options);
  // Validate the format before touching any shared state.
  (void)detail::plan_geometry(d.name, d.opt.format, d.opt.slots, d.opt.max_consumers, d.opt.metadata_capacity);
  d.acquire_lock();
  d.last_generation = d.take_over_existing();
  d.create_generation(d.opt.format, d.next_generation());
  d.heartbeat = std::thread([&d] {
    std::unique_lock lk(d.mu);
    while (!d.stop) {
      d.cv.wait_for(lk, d.opt.heartbeat, [&d] { return d.stop; });
      if (d.stop) break;
      lk.unlock();
      d.beat_and_reap();
      lk.lock();
    }
  });
}

Writer::Writer(Writer&&) noexcept = default;
Writer& Writer::operator=(Writer&& o) noexcept {
  if (this != &o) {
    close();
    impl_ = std::move(o.impl_);
  }
  return *this;
}
Writer::~Writer() { close(); }

WriteSlot Writer::acquire() noexcept {
  auto& d = *impl_;
  WriteSlot ws;
  if (d.closed || !d.view.map) return ws;
  if (d.outstanding) return ws;  // one slot at a time: commit or drop the previous one
  const auto& v = d.view;
  const std::uint64_t seq = d.next_seq;
  // Candidates: every slot but the one holding the newest frame (late joiners can always read
  // it), oldest first. With one slot there is no choice.
  // Sort a private snapshot: consumers map the segment writable, so words read twice from
  // shared memory could change under std::sort and break its ordering invariants.
  std::pair<std::uint64_t, std::uint32_t> by_age[layout::kMaxSlots];
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i < v.geo.slot_count; ++i) {
    if (static_cast<std::int64_t>(i) != d.last_slot || v.geo.slot_count == 1) {
      by_age[n++] = {at(v.slot(i).state).load(std::memory_order_relaxed), i};
    }
  }
  std::sort(by_age, by_age + n);  // n >= 1: slot_count >= 1 is validated
  std::uint32_t chosen = by_age[0].second;
  bool found = false;
  for (std::uint32_t k = 0; k < n && !found; ++k) {
    const std::uint32_t candidate = by_age[k].second;
    // Cheap pre-check: leave a leased slot alone without even marking it, so a reader's
    // still_valid() does not see a transient writing mark on a frame we will not touch.
    if (d.leased(candidate)) continue;
    auto state = at(v.slot(candidate).state);
    const std::uint64_t old = state.load(std::memory_order_relaxed);
    // seq_cst: Dekker pair with the Reader's lease store + state re-load (see leased()).
    state.store(layout::slot_writing(seq), std::memory_order_seq_cst);
    if (!d.leased(candidate)) {
      chosen = candidate;
      found = true;
    } else {
      // Leased: restore the word. No pixel was touched, so a reader that validates against
      // the restored value read a consistent frame.
      state.store(old, std::memory_order_seq_cst);
    }
  }
  if (!found) {
    // Every candidate is leased by a slow reader: take the oldest anyway. A consumer never
    // stalls the producer; the reader learns of it through still_valid() and its overruns.
    at(v.slot(chosen).state).store(layout::slot_writing(seq), std::memory_order_seq_cst);
    at(v.header().forced_overwrites).fetch_add(1, std::memory_order_relaxed);
  }
  // release fence: the writing mark above is ordered before the pixel stores that follow, so a
  // reader that sees any new pixel and then fences (acquire) sees the mark. Pairs with the
  // acquire fence in Frame::still_valid().
  std::atomic_thread_fence(std::memory_order_release);
  d.outstanding = true;
  ws.writer_ = impl_;
  ws.map_ = v.map;
  ws.slot_ = chosen;
  ws.seq_ = seq;
  ws.generation_ = v.geo.generation;
  ws.data_ = v.pixels(chosen);
  ws.mat_ = cv::Mat(static_cast<int>(v.geo.format.height), static_cast<int>(v.geo.format.width),
                    cv_type(v.geo.format.pixel_format), ws.data_, v.geo.format.stride);
  return ws;
}

std::uint64_t Writer::commit(WriteSlot& ws, std::uint64_t capture_ns, std::span<const std::byte> metadata) noexcept {
  auto& d = *impl_;
  if (ws.data_ == nullptr || ws.writer_.lock() != impl_ || !d.outstanding || !d.view.map || ws.map_ != d.view.map ||
      ws.generation_ != d.view.geo.generation) {
    return 0;
  }
  const auto& v = d.view;
  auto& s = v.slot(ws.slot_);
  const std::size_t meta = std::min<std::size_t>(metadata.size(), v.geo.metadata_capacity);
  if (meta != 0) std::memcpy(v.metadata(ws.slot_), metadata.data(), meta);
  s.capture_ns = capture_ns;
  s.commit_ns = detail::monotonic_ns();
  s.metadata_size = static_cast<std::uint32_t>(meta);
  // release: publishes pixels, metadata and timestamps of this slot; pairs with the acquire
  // load of the slot state in Reader (acquire_slot) before it hands out the frame.
  at(s.state).store(layout::slot_committed(ws.seq_), std::memory_order_release);
  // seq_cst (a release would do for the data): also the store side of the store->load pair
  // with a consumer claiming an entry, see wake_consumers().
  at(v.header().last_committed_seq).store(ws.seq_, std::memory_order_seq_cst);
  at(v.header().heartbeat_ns).store(s.commit_ns, std::memory_order_relaxed);
  d.wake_consumers(ws.seq_);
  d.last_slot = ws.slot_;
  d.next_seq = ws.seq_ + 1;
  d.outstanding = false;
  const std::uint64_t seq = ws.seq_;
  ws.writer_.reset();
  ws.map_.reset();
  ws.mat_.release();
  ws.data_ = nullptr;
  return seq;
}

std::uint64_t Writer::publish(const cv::Mat& frame, std::uint64_t capture_ns, std::span<const std::byte> metadata) noexcept {
  const auto& f = impl_->view.geo.format;
  if (frame.empty() || frame.cols != static_cast<int>(f.width) || frame.rows != static_cast<int>(f.height) ||
      frame.type() != cv_type(f.pixel_format)) {
    return 0;
  }
  WriteSlot ws = acquire();
  if (!ws) return 0;
  const std::size_t row = f.row_bytes();
  // Large frames: streaming stores (see detail/copy.hpp); the producer never reads them back.
  const bool stream = f.frame_bytes() >= detail::kStreamingCopyMin;
  if (frame.isContinuous() && f.stride == row) {
    if (stream) detail::stream_copy(ws.data(), frame.data, row * f.height);
    else std::memcpy(ws.data(), frame.data, row * f.height);
  } else {
    for (std::uint32_t y = 0; y < f.height; ++y) {
      std::byte* dst = ws.data() + static_cast<std::size_t>(y) * f.stride;
      if (stream) detail::stream_copy(dst, frame.ptr(static_cast<int>(y)), row);
      else std::memcpy(dst, frame.ptr(static_cast<int>(y)), row);
    }
  }
  return commit(ws, capture_ns, metadata);
}

void Writer::reconfigure(const FrameFormat& format) {
  auto& d = *impl_;
  if (d.closed) throw Error(errc::closed, "stream '" + d.name + "': reconfigure after close");
  if (d.view.map && format == d.view.geo.format) return;
  (void)detail::plan_geometry(d.name, format, d.opt.slots, d.opt.max_consumers, d.opt.metadata_capacity);
  d.outstanding = false;
  d.retire_current(layout::State::superseded);
  d.opt.format = format;
  d.create_generation(format, d.next_generation());  // after a failed attempt, this simply retries
  d.log(LogLevel::info, "stream '" + d.name + "': new generation " + std::to_string(d.last_generation) + " for " + to_string(format));
}

void Writer::close() noexcept {
  if (!impl_ || impl_->closed) return;
  auto& d = *impl_;
  {
    std::lock_guard lk(d.mu);
    d.stop = true;
  }
  d.cv.notify_all();
  if (d.heartbeat.joinable()) d.heartbeat.join();
  d.retire_current(layout::State::closed);
  // Still holding the flock: nobody can be between open and flock on this inode and then
  // proceed, because acquire_lock() re-checks that the name still refers to the inode it locked.
  struct stat held{}, named{};
  const std::string lock_path = detail::object_path(detail::lock_object(d.name));
  if (fstat(d.lock_fd.get(), &held) == 0 && stat(lock_path.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
      held.st_dev == named.st_dev) {
    shm_unlink(detail::lock_object(d.name).c_str());
  }
  d.lock_fd.reset();
  d.closed = true;
}

const std::string& Writer::name() const noexcept { return impl_->name; }
const FrameFormat& Writer::format() const noexcept { return impl_->opt.format; }
std::uint64_t Writer::generation() const noexcept { return impl_->view.geo.generation; }
std::uint32_t Writer::metadata_capacity() const noexcept { return impl_->opt.metadata_capacity; }

WriterStats Writer::stats() const {
  detail::View v;
  {
    std::lock_guard lk(impl_->mu);
    v = impl_->view;
  }
  WriterStats s;
  if (!v.map) return s;
  auto& h = v.header();
  s.generation = v.geo.generation;
  s.last_seq = at(h.last_committed_seq).load(std::memory_order_relaxed);
  s.forced_overwrites = at(h.forced_overwrites).load(std::memory_order_relaxed);
  s.consumers_reaped = at(h.consumers_reaped).load(std::memory_order_relaxed);
  s.commits_aborted = at(h.commits_aborted).load(std::memory_order_relaxed);
  s.consumers = detail::collect_consumers(v);
  return s;
}

}  // namespace shmframe
