// shmframe/reader.hpp: the consumer side of a stream.
//
// A Reader follows a stream by name across producer restarts and format changes: it waits for
// the stream to appear, attaches to the current generation (validating every header field),
// takes committed frames without copying them, notices a lost producer within a few heartbeats,
// and re-attaches by itself when a new generation appears. Each Reader owns one entry in the
// segment's consumer table (its wake-up word, its held slots, its counters); the producer never
// waits for it (but for lossless delivery, bounded). A Reader with read access only attaches
// read-only instead: no entry, nothing held (see Access).
//
// Thread contract: the Reader's own calls (wait, latest, read, copy_latest, attach, detach,
// info, stats) are made from one thread at a time. The Frames it returns may be kept, moved,
// released and destroyed on any thread, concurrently with those calls (see frame.hpp).
// interrupt() and clear_interrupt() may be called from any thread, interrupt() also from a
// signal handler: it ends a wait() in progress at once. Waits also return early with
// EventKind::interrupted when a signal handler runs (handlers installed without SA_RESTART).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "shmframe/error.hpp"
#include "shmframe/format.hpp"
#include "shmframe/frame.hpp"
#include "shmframe/info.hpp"
#include "shmframe/log.hpp"
#include "shmframe/modes.hpp"

namespace shmframe {

class Reader;
namespace detail {
class ReaderCore;
namespace notifier {
struct WaitTarget;
struct Activity;
}
// What `r` would sleep on now (SyncReader waits on all its members at once); reads the ticket.
notifier::WaitTarget wait_target(Reader& r) noexcept;
// Whether `r` has a frame committed after the last one it took (wait_target()'s `pending`, without
// reading a ticket or the clock).
bool has_pending(const Reader& r) noexcept;
// The consumers of `r`'s stream and those polling, counting `r` (read-only too); zeros detached.
notifier::Activity activity(const Reader& r) noexcept;
}  // namespace detail

// ReaderOptions::expect_owner from what a user types: a uid (decimal, 0..4294967294) or the name of
// a user of this host. nullopt when it is neither. Thread-safe (getpwnam_r).
std::optional<std::uint32_t> parse_owner(std::string_view text);

struct ReaderOptions {
  std::chrono::milliseconds ready_timeout{2000};  // how long a segment may stay INITIALIZING
  Access access = Access::automatic;              // lossless needs write access: read_write then
  // Attach only to a segment this uid owns (the object's owner, fstat: the header's writer_uid
  // can be forged): another user's segment at the name is an error (permission_denied).
  std::optional<std::uint32_t> expect_owner;
  Delivery delivery = Delivery::latest;
  WaitPolicy wait = WaitPolicy::block;
  std::chrono::microseconds spin_limit{0};  // 0 = the policy's default (see WaitPolicy)
  LogCallback log;
};

enum class EventKind {
  frame,          // Event::frame holds a new frame
  attached,       // attached to a generation (first attach, or after a takeover / format change)
  producer_lost,  // the producer died or stopped beating; frames already taken stay readable
  closed,         // the producer closed the stream cleanly
  timeout,        // nothing happened before the timeout
  interrupted,    // Reader::interrupt() was called (or is still in force), or a signal arrived
  error,          // the stream cannot be used now (error / message say why); Event::fatal() says
                  // whether waiting on can help
  corrupt,        // the segment holds a value only a hostile or broken process writes (a sequence
                  // number going backwards, CLOSED / SUPERSEDED stored while its producer lives on
                  // and still owns the name): message says what; the Reader has recovered (it
                  // re-synchronised or re-attached) and goes on; counted in ReaderStats::corrupt
};
std::string_view to_string(EventKind k) noexcept;

struct Event {
  EventKind kind = EventKind::timeout;
  Frame frame;
  std::uint64_t generation = 0;
  std::error_code error;
  std::string message;
  std::uint64_t dropped = 0;  // with a frame: frames missed just before it

  // True when waiting on cannot help: an error event for a stream that exists but that this
  // reader can never use as it is (permission_denied, abi_mismatch, bad_magic, corrupt,
  // invalid_argument, system_error). Every other event is not fatal, errors included: a creator
  // that died or stalled during initialization (creator_died, init_timeout) is replaced by the
  // next producer, and a full consumer table (too_many_consumers) frees up. docs/PROTOCOL.md,
  // "Events", lists each kind. Front ends give up on fatal events and report the others.
  bool fatal() const noexcept;
};
// The same judgment for an error code (of an Event, or of an Error thrown by attach()).
bool is_fatal(std::error_code error) noexcept;

struct ReaderStats {
  std::uint64_t frames = 0;     // frames taken through wait()
  std::uint64_t drops = 0;      // committed frames this reader never took
  std::uint64_t overruns = 0;   // frames overwritten while held, or retried during a copy
  std::uint64_t unheld = 0;     // frames handed out unheld (the reader held slots - 1 already)
  std::uint64_t demotions = 0;  // lossless: times the producer demoted this reader for blocking it
  std::uint64_t attaches = 0;   // generations attached
  std::uint64_t producer_lost = 0;
  std::uint64_t version_mismatches = 0;
  std::uint64_t bad_magic = 0;
  std::uint64_t corrupt = 0;  // corrupt headers refused, and corrupt events (EventKind::corrupt)
  std::uint64_t permission_denied = 0;
  std::uint64_t init_failures = 0;
  std::uint64_t polled = 0;  // waits that polled (spin, predictive) instead of sleeping at once
};

class Reader {
 public:
  // Does not attach yet. Throws Error(invalid_name), Error(invalid_argument) for lossless
  // delivery with Access::read_only.
  explicit Reader(std::string_view name, ReaderOptions options = {});
  Reader(Reader&&) noexcept;
  Reader& operator=(Reader&&) noexcept;
  ~Reader();

  // Attaches now, waiting up to `timeout` for the stream to exist and be READY. Throws Error:
  // not_found, permission_denied (also: lossless without write access), abi_mismatch, bad_magic,
  // corrupt, init_timeout, creator_died, too_many_consumers; interrupted when interrupt() was
  // called, or a signal handler (installed without SA_RESTART) ran during the wait.
  void attach(std::chrono::milliseconds timeout);
  bool attached() const noexcept;
  // Gives the consumer entry back. Frames still held stay readable; they just hold nothing.
  void detach() noexcept;

  // Ends a wait() in progress on another thread at once (EventKind::interrupted), and makes
  // every later wait() (and attach(), which throws Error(interrupted)) return at once too, until
  // clear_interrupt(). Any thread, and async-signal-safe: it sets a flag, bumps a private futex
  // word and writes an eventfd, and touches no shared memory. For GStreamer's unlock(), a
  // Python close() from another thread, a stop request.
  void interrupt() noexcept;
  // Lets waits block again (GStreamer's unlock_stop). An interrupt() racing with it may be
  // lost: call it from the thread that waits, before it waits again.
  void clear_interrupt() noexcept;
  // True while an interrupt() is in force.
  bool interrupt_requested() const noexcept;

  // The next event: a new frame, a life-cycle change, or timeout. Attaches and re-attaches by
  // itself. Never throws; bounded by `timeout`.
  Event wait(std::chrono::nanoseconds timeout) noexcept;

  // The newest committed frame (empty if none or not attached).
  Frame latest() noexcept;
  // Frame `seq` of the current generation while a slot still holds it (empty otherwise).
  Frame read(std::uint64_t seq) noexcept;
  // Copies the newest frame's rows into `dst` (rows `dst_stride` bytes apart, at least
  // info().format.row_bytes() each, info().format.height rows) and validates the copy; retries
  // when the producer overwrote it meanwhile. False if there is no frame. With
  // <shmframe/opencv.hpp>, shmframe::copy_latest(reader, mat) does the sizing.
  bool copy_latest(std::byte* dst, std::size_t dst_stride, std::uint64_t* seq = nullptr) noexcept;

  // Frames one Reader may hold at once (slots - 1, at least 1; 0 when read-only or detached);
  // more are handed out unheld.
  std::uint32_t hold_limit() const noexcept;
  // True while attached read-only (Access::read_only, or automatic without write access).
  bool read_only() const noexcept;

  const std::string& name() const noexcept;
  StreamInfo info() const noexcept;  // of the attached generation; zeros when detached
  ReaderStats stats() const noexcept;

 private:
  friend detail::notifier::WaitTarget detail::wait_target(Reader& r) noexcept;
  friend bool detail::has_pending(const Reader& r) noexcept;
  friend detail::notifier::Activity detail::activity(const Reader& r) noexcept;
  std::unique_ptr<detail::ReaderCore> impl_;
};

}  // namespace shmframe
