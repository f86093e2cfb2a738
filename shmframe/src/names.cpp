// The option enums' tables (names.hpp): the one place their spellings are written.
#include "shmframe/names.hpp"

namespace shmframe {

namespace {
constexpr EnumName<Delivery> kDelivery[] = {
    {Delivery::latest, "latest", "the newest frame at each wait: a slow reader skips frames (counted as drops)"},
    {Delivery::every_frame, "every-frame",
     "every frame while a slot still holds it, else the newest; the producer never waits"},
    {Delivery::lossless, "lossless",
     "every frame, in order: the producer waits for this reader up to its max block (100 ms by default)"},
};
constexpr EnumName<WaitPolicy> kWaitPolicy[] = {
    {WaitPolicy::block, "block", "sleep in the kernel until the producer's wake-up: no CPU between frames"},
    {WaitPolicy::predictive, "predictive",
     "learn the stream's period, sleep until shortly before the next frame, then poll a short window"},
    {WaitPolicy::spin, "spin", "poll for the next frame (a dedicated core; lowest latency), then block"},
};
constexpr EnumName<Access> kAccess[] = {
    {Access::automatic, "auto", "read-write if allowed, else read-only"},
    {Access::read_write, "read-write", "own a consumer entry: held frames, lossless delivery, listed by --status"},
    {Access::read_only, "read-only",
     "map the stream read-only: cannot disturb the producer or other consumers; frames are not held, no "
     "lossless, not listed"},
};
constexpr EnumName<ConsumerDelivery> kConsumerDelivery[] = {
    {ConsumerDelivery::lossy, "lossy", "latest or every-frame: the producer never waits for it"},
    {ConsumerDelivery::lossless, "lossless", "the producer waits for it, up to its max block"},
    {ConsumerDelivery::demoted, "demoted", "lossless, but it blocked the producer too long: lossy until caught up"},
};
}  // namespace

template <>
std::span<const EnumName<Delivery>> enum_names<Delivery>() noexcept {
  return kDelivery;
}
template <>
std::span<const EnumName<WaitPolicy>> enum_names<WaitPolicy>() noexcept {
  return kWaitPolicy;
}
template <>
std::span<const EnumName<Access>> enum_names<Access>() noexcept {
  return kAccess;
}
template <>
std::span<const EnumName<ConsumerDelivery>> enum_names<ConsumerDelivery>() noexcept {
  return kConsumerDelivery;
}

std::string_view to_string(Delivery d) noexcept { return name_of(d); }
std::string_view to_string(WaitPolicy w) noexcept { return name_of(w); }
std::string_view to_string(Access a) noexcept { return name_of(a); }
std::string_view to_string(ConsumerDelivery d) noexcept { return name_of(d); }

}  // namespace shmframe
