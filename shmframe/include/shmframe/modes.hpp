// shmframe/modes.hpp: how a consumer takes frames, waits and opens a stream (ReaderOptions),
// and how the producer sees a consumer's delivery (ConsumerInfo). Their spellings, one per value,
// are in names.hpp. Values only; thread-safe.
#pragma once

#include <string_view>

namespace shmframe {

// What a Reader takes, and what the producer does for it (docs/PROTOCOL.md, "Delivery modes").
// The first frame after an attach is the newest, except for every_frame and lossless readers
// that attached before the generation's first commit: they start at its first frame.
enum class Delivery {
  latest,       // the newest frame at each wait: a slow reader skips frames (counted as drops)
  every_frame,  // seq + 1 while a slot still holds it, else the newest; the producer never waits
  lossless,     // every frame, in order: the producer does not overwrite a frame this reader has
                // not taken, for up to its max block (WriterOptions::max_block, default 100 ms);
                // a reader that blocks it longer is demoted to every_frame (ReaderStats::demotions)
                // until it has caught up with the newest frame
};
std::string_view to_string(Delivery d) noexcept;

// How a Reader waits for the next frame (docs/PROTOCOL.md, "Wait policies"; README, "Wait
// policies" for what each costs).
enum class WaitPolicy {
  block,       // sleep in the kernel until the producer's wake-up: no CPU, one wake-up per frame
  predictive,  // learn the stream's period; sleep until shortly before the next frame is due,
               // then poll for a window sized from the observed jitter (at most spin_limit,
               // default 1 ms); late or irregular frames: block. Polls only while fewer consumers
               // poll than there are CPUs besides one, and while the producer and every consumer
               // of the stream have a CPU each (else a woken consumer preempts the poller): it is
               // never later than block
  spin,        // poll for up to spin_limit (default: the whole wait), then block: a dedicated core
};
std::string_view to_string(WaitPolicy w) noexcept;

// How a Reader opens the segment (docs/PROTOCOL.md, "Read-only consumers").
enum class Access {
  automatic,   // read-write if allowed, else read-only (a 0644 / 0640 stream of another user)
  read_write,  // own a consumer entry: held frames, lossless delivery, counters in --list
  read_only,   // map it read-only, own no entry: cannot disturb the producer or anyone else, but
               // holds nothing (every frame unheld: check still_valid()), cannot be lossless, and
               // is not listed; wakes on the header's reader_wake word
};
std::string_view to_string(Access a) noexcept;

// A consumer's delivery as the producer sees it (ConsumerInfo::delivery, shmframe-consumer --status).
enum class ConsumerDelivery {
  lossy,     // latest or every frame: the producer never waits for it
  lossless,  // the producer waits for it, up to its max block
  demoted,   // lossless, but it blocked the producer for its max block: lossy until it catches up
};
std::string_view to_string(ConsumerDelivery d) noexcept;

}  // namespace shmframe
