// shmframe/plugin.hpp: export a C++ shmframe::Processor as a plugin, in one line.
//
//   class Edges : public shmframe::Processor {
//    public:
//     explicit Edges(shmframe::PluginArgs& args) : low_(args.number("low", 60)) {}
//     bool on_frame(const shmframe::Input& in, shmframe::Output& out) override { ... }
//   };
//   SHMFRAME_PLUGIN(Edges, "edge", "Canny edges of the input, published as gray8")
//
// Build it as a shared library linked to shmframe::plugin (CMake: add_library(x MODULE ...),
// target_link_libraries(x PRIVATE shmframe::plugin)), then run it with
// `shmframe-consumer --plugin path/to/x.so --plugin-arg low=40`. Only the C ABI of plugin.h
// crosses into the host: exceptions are caught here and reported as failures, arguments the
// class did not read are refused as unknown. Header-only.
//
// A class deriving from shmframe::SetProcessor takes synchronised sets instead (on_set(), one
// frame per stream): `shmframe-consumer --name left --name right --sync exact --plugin stereo`.
#pragma once

#include <cstdio>
#include <exception>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "shmframe/plugin.h"
#include "shmframe/processor.hpp"

namespace shmframe {

// The --plugin-arg KEY=VALUE pairs given to the plugin. Every accessor records its key as
// known; after the constructor, arguments nobody asked for are refused by name.
class PluginArgs {
 public:
  PluginArgs(const shmframe_arg* args, std::uint32_t count, const shmframe_host* host) : host_(host) {
    for (std::uint32_t i = 0; i < count; ++i) all_.emplace_back(args[i].key, args[i].value);
  }

  std::string get(std::string_view key, std::string_view fallback) {
    known_.insert(std::string(key));
    for (const auto& [k, v] : all_)
      if (k == key) return v;
    return std::string(fallback);
  }
  double number(std::string_view key, double fallback) {
    const std::string v = get(key, "");
    if (v.empty()) return fallback;
    std::size_t used = 0;
    double d = 0;
    try {
      d = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size()) throw std::invalid_argument(std::string(key) + "=" + v + " is not a number");
    return d;
  }
  bool flag(std::string_view key, bool fallback) {
    const std::string v = get(key, "");
    if (v.empty()) return fallback;
    if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
    if (v == "0" || v == "false" || v == "no" || v == "off") return false;
    throw std::invalid_argument(std::string(key) + "=" + v + " is not a boolean (true/false)");
  }
  // Throws std::invalid_argument naming the first argument no accessor asked for.
  void check_all_used() const {
    for (const auto& [k, v] : all_) {
      if (known_.count(k) != 0) continue;
      std::string takes;
      for (const auto& n : known_) takes += (takes.empty() ? "" : ", ") + n;
      throw std::invalid_argument("unknown argument '" + k +
                                  "' (this plugin takes: " + (takes.empty() ? std::string("none") : takes) + ")");
    }
  }
  // Logs through the host (the consumer's log).
  void log(LogLevel level, const std::string& message) const {
    if (host_ != nullptr && host_->log != nullptr) host_->log(host_->ctx, static_cast<int>(level), message.c_str());
  }
  LogCallback logger() const {
    return [host = host_](LogLevel level, const std::string& m) {
      if (host != nullptr && host->log != nullptr) host->log(host->ctx, static_cast<int>(level), m.c_str());
    };
  }

 private:
  const shmframe_host* host_;
  std::vector<std::pair<std::string, std::string>> all_;
  std::set<std::string, std::less<>> known_;
};

namespace plugin_detail {

inline FrameFormat to_format(const shmframe_format& f) noexcept {
  return FrameFormat{f.width, f.height, static_cast<PixelFormat>(f.pixel_format), f.stride};
}
inline StreamInfo to_info(const shmframe_stream_info* i) noexcept {
  StreamInfo s;
  if (i == nullptr) return s;
  s.generation = i->generation;
  s.format = to_format(i->format);
  s.writer_pid = i->producer_pid;
  s.slots = i->slots;
  return s;
}

// Output through the host's callbacks.
class HostOutput final : public Output {
 public:
  explicit HostOutput(const shmframe_host* h) noexcept : h_(h) {}
  // The host's output callbacks exist only where its table is large enough (plugin.h).
  bool enabled() const noexcept override {
    return SHMFRAME_HAS_FIELD(h_, shmframe_host, output_enabled) && h_->output_enabled != nullptr &&
           h_->output_enabled(h_->ctx) != 0;
  }
  OutputBuffer acquire(const FrameFormat& format) noexcept override {
    if (!SHMFRAME_HAS_FIELD(h_, shmframe_host, output_acquire) || h_->output_acquire == nullptr) return {};
    const shmframe_format req{format.width, format.height, static_cast<std::uint32_t>(format.pixel_format), 0};
    shmframe_out_buffer b{};
    if (h_->output_acquire(h_->ctx, &req, &b) != 0 || b.data == nullptr) return {};
    return OutputBuffer{reinterpret_cast<std::byte*>(b.data), to_format(b.format)};
  }
  bool commit(std::span<const std::byte> metadata) noexcept override {
    if (!SHMFRAME_HAS_FIELD(h_, shmframe_host, output_commit) || h_->output_commit == nullptr) return false;
    return h_->output_commit(h_->ctx, reinterpret_cast<const std::uint8_t*>(metadata.data()), metadata.size()) == 0;
  }

 private:
  const shmframe_host* h_;
};

// The Input a host's frame makes; `origin` receives the frame's origin.
inline Input to_input(const shmframe_frame* f, Origin& origin, const shmframe_host* host) {
  // A host older than this plugin may hand a smaller frame (plugin.h, version rule): without
  // the origin fields, the frame is its own origin, as from a producer.
  if (SHMFRAME_HAS_FIELD(f, shmframe_frame, origin_hops)) {
    origin.stream = f->origin_stream != nullptr ? f->origin_stream : "";
    origin.seq = f->origin_seq;
    origin.generation = f->origin_generation;
    origin.capture_ns = f->origin_capture_ns;
    origin.hops = f->origin_hops;
  } else {
    origin = Origin{"", f->seq, f->generation, f->capture_ns, 0};
  }
  // A host older than the camera-native formats hands no planes: packed formats only then.
  FrameFormat format = to_format(f->format);
  std::size_t payload = 0;
  if (SHMFRAME_HAS_FIELD(f, shmframe_frame, payload_bytes)) {
    payload = static_cast<std::size_t>(f->payload_bytes);
    if (f->plane_count > 1 && f->plane_count <= SHMFRAME_MAX_PLANES) {
      format.chroma_stride = static_cast<std::uint32_t>(f->planes[1].stride);
      for (std::uint32_t i = 1; i < f->plane_count; ++i) {
        format.chroma_offset[i - 1] = static_cast<std::uint64_t>(f->planes[i].data - f->data);
      }
    }
    if (format.compressed()) format.stride = 0;
  }
  return Input(Input::Parts{
      .data = reinterpret_cast<const std::byte*>(f->data),
      .format = format,
      .seq = f->seq,
      .generation = f->generation,
      .capture_ns = f->capture_ns,
      .commit_ns = f->commit_ns,
      .metadata = {reinterpret_cast<const std::byte*>(f->metadata), static_cast<std::size_t>(f->metadata_size)},
      .payload_bytes = payload,
      .origin = &origin,
      .now_ns = f->now_ns,
      .dropped = f->dropped,
      .valid =
          [](const void* c) noexcept {
            const auto* h = static_cast<const shmframe_host*>(c);
            return SHMFRAME_HAS_FIELD(h, shmframe_host, still_valid) && h->still_valid != nullptr &&
                   h->still_valid(h->ctx) != 0;
          },
      .valid_ctx = host,
  });
}

inline RunStatus to_status(const shmframe_run_status* s) noexcept {
  RunStatus st;
  st.now_ns = s->now_ns;
  st.reader.frames = s->frames;
  st.reader.drops = s->drops;
  st.reader.overruns = s->overruns;
  st.processed = s->processed;
  st.discarded = s->discarded;
  st.errors = s->errors;
  st.published = s->published;
  st.stream.heartbeat_age_ns = s->heartbeat_age_ns;
  if (SHMFRAME_HAS_FIELD(s, shmframe_run_status, unmatched)) {
    st.sets = s->sets;
    st.unmatched = s->unmatched;
  }
  return st;
}

// A stream event of a set run (plugin.h, "Sets"): the member's index, else nullopt.
inline std::optional<std::size_t> member_of(const shmframe_stream_info* i) noexcept {
  if (i == nullptr || !SHMFRAME_HAS_FIELD(i, shmframe_stream_info, members) || i->members == 0) return std::nullopt;
  return i->member;
}

// `P` is a Processor (single frames), a SetProcessor (synchronised sets), or both.
template <class P>
struct Glue {
  static constexpr bool kFrames = std::is_base_of_v<Processor, P>;
  static constexpr bool kSets = std::is_base_of_v<SetProcessor, P>;
  static_assert(kFrames || kSets, "a plugin class derives from shmframe::Processor or shmframe::SetProcessor");

  struct Instance {
    Instance(const shmframe_host* h, PluginArgs& a) : host(h), output(h), processor(a) {}
    const shmframe_host* host;
    HostOutput output;
    Origin origin;
    std::vector<Origin> origins;  // a set's
    std::vector<Input> inputs;    // a set's
    P processor;
  };

  static void report(const shmframe_host* host, const char* what, const char* why) noexcept {
    if (host == nullptr || host->log == nullptr) return;
    char line[512];
    std::snprintf(line, sizeof line, "plugin %s failed: %s", what, why);
    host->log(host->ctx, SHMFRAME_LOG_ERROR, line);
  }
  // Runs a callback of the class; nothing unwinds into the host.
  template <class F>
  static bool guarded(Instance* in, const char* what, F&& f) noexcept {
    try {
      f();
      return true;
    } catch (const std::exception& e) {
      report(in->host, what, e.what());
    } catch (...) {
      report(in->host, what, "unknown exception");
    }
    return false;
  }

  static void* create(const shmframe_host* host, const shmframe_arg* args, std::uint32_t count, char* error,
                      std::uint32_t error_size) noexcept {
    try {
      PluginArgs a(args, count, host);
      auto* in = new Instance(host, a);
      try {
        a.check_all_used();
      } catch (...) {
        delete in;
        throw;
      }
      return in;
    } catch (const std::exception& e) {
      if (error != nullptr && error_size != 0) std::snprintf(error, error_size, "%s", e.what());
    } catch (...) {
      if (error != nullptr && error_size != 0) std::snprintf(error, error_size, "unknown exception");
    }
    return nullptr;
  }
  static void destroy(void* self) noexcept {
    auto* in = static_cast<Instance*>(self);
    try {
      delete in;
    } catch (...) {  // a throwing destructor must not unwind into the host
    }
  }
  static void on_attached(void* self, const shmframe_stream_info* info) noexcept {
    auto* in = static_cast<Instance*>(self);
    guarded(in, "on_attached", [&] {
      if (const std::optional<std::size_t> m = member_of(info)) {
        if constexpr (kSets) static_cast<SetProcessor&>(in->processor).on_attached(*m, to_info(info));
      } else {
        if constexpr (kFrames) static_cast<Processor&>(in->processor).on_attached(to_info(info));
      }
    });
  }
  static int on_frame(void* self, const shmframe_frame* f) noexcept {
    auto* in = static_cast<Instance*>(self);
    int result = SHMFRAME_FRAME_FAILED;
    if constexpr (kFrames) {  // else not in the table
      guarded(in, "on_frame", [&] {
        const Input input = to_input(f, in->origin, in->host);
        result = static_cast<Processor&>(in->processor).on_frame(input, in->output) ? SHMFRAME_FRAME_OK
                                                                                    : SHMFRAME_FRAME_DISCARD;
      });
    }
    return result;
  }
  static int on_set(void* self, const shmframe_frame* const* frames, std::uint32_t count) noexcept {
    auto* in = static_cast<Instance*>(self);
    int result = SHMFRAME_FRAME_FAILED;
    if constexpr (kSets) {  // else not in the table
      guarded(in, "on_set", [&] {
        in->origins.resize(count);
        in->inputs.clear();
        for (std::uint32_t i = 0; i < count; ++i) in->inputs.push_back(to_input(frames[i], in->origins[i], in->host));
        result = static_cast<SetProcessor&>(in->processor).on_set(std::span<const Input>(in->inputs), in->output)
                     ? SHMFRAME_FRAME_OK
                     : SHMFRAME_FRAME_DISCARD;
      });
      in->inputs.clear();
    }
    return result;
  }
  static void on_producer_lost(void* self, const shmframe_stream_info* info, const char* why) noexcept {
    auto* in = static_cast<Instance*>(self);
    const std::string_view w = why != nullptr ? why : "";
    guarded(in, "on_producer_lost", [&] {
      if (const std::optional<std::size_t> m = member_of(info)) {
        if constexpr (kSets) static_cast<SetProcessor&>(in->processor).on_producer_lost(*m, to_info(info), w);
      } else {
        if constexpr (kFrames) static_cast<Processor&>(in->processor).on_producer_lost(to_info(info), w);
      }
    });
  }
  static void on_closed(void* self, std::uint64_t generation) noexcept {
    auto* in = static_cast<Instance*>(self);
    if constexpr (kFrames)
      guarded(in, "on_closed", [&] { static_cast<Processor&>(in->processor).on_closed(generation); });
  }
  static void on_member_closed(void* self, std::uint32_t member, std::uint64_t generation) noexcept {
    auto* in = static_cast<Instance*>(self);
    if constexpr (kSets) {
      guarded(in, "on_closed", [&] { static_cast<SetProcessor&>(in->processor).on_closed(member, generation); });
    }
  }
  static void on_idle(void* self, const shmframe_run_status* s) noexcept {
    auto* in = static_cast<Instance*>(self);
    guarded(in, "on_idle", [&] {
      if constexpr (kFrames) {
        static_cast<Processor&>(in->processor).on_idle(to_status(s));
      } else {
        static_cast<SetProcessor&>(in->processor).on_idle(to_status(s));
      }
    });
  }

  static const shmframe_plugin* table(const char* name, const char* description) noexcept {
    static const shmframe_plugin t{SHMFRAME_PLUGIN_ABI,
                                   sizeof(shmframe_plugin),
                                   name,
                                   description,
                                   &create,
                                   &destroy,
                                   &on_attached,
                                   kFrames ? &on_frame : nullptr,
                                   &on_producer_lost,
                                   &on_closed,
                                   &on_idle,
                                   kSets ? &on_set : nullptr,
                                   &on_member_closed};
    return &t;
  }
};

}  // namespace plugin_detail
}  // namespace shmframe

// Exports `Class` (a shmframe::Processor, a shmframe::SetProcessor or both, constructible from
// shmframe::PluginArgs&) as this shared library's plugin.
#define SHMFRAME_PLUGIN(Class, name, description)                                                        \
  extern "C" __attribute__((visibility("default"))) const shmframe_plugin* shmframe_plugin_entry(void) { \
    return ::shmframe::plugin_detail::Glue<Class>::table(name, description);                             \
  }
