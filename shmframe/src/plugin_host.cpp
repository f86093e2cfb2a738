// The host side of the plugin ABI (plugin.h): dlopen, checks, and a Processor over the C table.
#include "shmframe/plugin_host.hpp"

#include <dlfcn.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "shmframe/error.hpp"
#include "shmframe/plugin.h"
#include "shmframe/sync_reader.hpp"

namespace shmframe {

namespace {

struct DlClose {
  void operator()(void* h) const noexcept {
    if (h != nullptr) dlclose(h);
  }
};
using Library = std::unique_ptr<void, DlClose>;

bool is_file(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Why code found by name at `st` is not to be trusted, or empty: it must belong to root or to us
// and be writable by nobody else. An ancestor directory may be group/world-writable when it is
// sticky (/tmp): there nobody can rename or replace what root or we own.
// True for the caller's own private group (its effective gid, with no other members listed):
// with umask 002 (user private groups) everything the user makes is group-writable by it alone.
bool own_private_group(gid_t gid) {
  if (gid != getegid()) return false;
  struct group g {};
  struct group* found = nullptr;
  std::vector<char> buf(16384);
  return getgrgid_r(gid, &g, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
         (found->gr_mem == nullptr || found->gr_mem[0] == nullptr);
}

std::string distrust(const struct stat& st, bool ancestor) {
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    return "owned by uid " + std::to_string(st.st_uid) + ", neither root nor you";
  }
  if (ancestor && (st.st_mode & S_ISVTX) != 0) return {};  // sticky: nobody renames what is ours
  if ((st.st_mode & S_IWOTH) != 0) return "world-writable";
  if ((st.st_mode & S_IWGRP) != 0 && !own_private_group(st.st_gid)) {
    return "writable by group " + std::to_string(st.st_gid);
  }
  return {};
}

std::string real_path(const std::string& p) {
  std::unique_ptr<char, decltype(&std::free)> r(realpath(p.c_str(), nullptr), &std::free);
  return r ? std::string(r.get()) : std::string();
}

// Why the directory `real` (a realpath) and every directory above it are not to be trusted to
// hold code, or empty.
std::string distrust_dir(const std::string& real) {
  std::vector<std::string> chain{"/"};
  for (std::size_t at = real.find('/', 1);; at = real.find('/', at + 1)) {
    chain.push_back(real.substr(0, at));
    if (at == std::string::npos) break;
  }
  for (const auto& dir : chain) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0)
      return "cannot inspect " + dir + ": " + std::error_code(errno, std::generic_category()).message();
    const bool ancestor = dir.size() < real.size();
    if (std::string why = distrust(st, ancestor); !why.empty()) {
      if (!ancestor) return why;
      std::string out = dir;
      out += " is ";
      out += why;
      return out;
    }
  }
  return {};
}

// Why the file `candidate` (found by name) is not to be trusted, or empty. Through links too:
// what is loaded is the target, in its own directory, by that resolved path (`real`), so that a
// link someone changes after the check cannot redirect the load.
std::string distrust_file(const std::string& candidate, std::string& real) {
  real = real_path(candidate);
  struct stat st {};
  if (real.empty() || stat(real.c_str(), &st) != 0) return "cannot resolve it";
  if (std::string why = distrust(st, false); !why.empty()) return why;
  const std::string parent = real.substr(0, std::max<std::size_t>(real.rfind('/'), 1));
  if (std::string why = distrust_dir(parent); !why.empty()) {
    std::string out = "its directory ";
    out += parent;
    out += ": ";
    out += why;
    return out;
  }
  return {};
}

shmframe_format c_format(const FrameFormat& f) noexcept {
  return {f.width, f.height, static_cast<std::uint32_t>(f.pixel_format), f.effective_stride()};
}

// A plugin instance as a Processor (single frames) and a SetProcessor (sets). The C callbacks
// reach back through `ctx` (this object) to the input and output of the call in progress.
class PluginProcessor final : public Processor, public SetProcessor {
 public:
  PluginProcessor(Library lib, const shmframe_plugin* p, std::string path, LogCallback log)
      : lib_(std::move(lib)), p_(p), path_(std::move(path)), log_(std::move(log)) {
    host_.abi = SHMFRAME_PLUGIN_ABI;
    host_.size = sizeof host_;
    host_.ctx = this;
    host_.log = &host_log;
    host_.still_valid = &host_still_valid;
    host_.output_enabled = &host_output_enabled;
    host_.output_acquire = &host_output_acquire;
    host_.output_commit = &host_output_commit;
  }
  ~PluginProcessor() override {
    if (self_ != nullptr) p_->destroy(self_);
  }
  PluginProcessor(const PluginProcessor&) = delete;
  PluginProcessor& operator=(const PluginProcessor&) = delete;

  void create(const std::vector<std::pair<std::string, std::string>>& args) {
    std::vector<shmframe_arg> c;
    c.reserve(args.size());
    for (const auto& [k, v] : args) c.push_back({k.c_str(), v.c_str()});
    char error[512] = {};
    self_ = p_->create(&host_, c.data(), static_cast<std::uint32_t>(c.size()), error, sizeof error);
    if (self_ == nullptr) {
      error[sizeof error - 1] = '\0';
      throw Error(errc::invalid_argument, "plugin " + path_ + " (" + p_->name +
                                              "): cannot create it: " + (error[0] != '\0' ? error : "no reason given"));
    }
  }

  // Optional callbacks exist only where the plugin's table is large enough (plugin.h).
  void on_attached(const StreamInfo& info) override {
    if (p_->on_attached == nullptr) return;  // before on_frame: always within a valid table
    const shmframe_stream_info i = c_info(info, 0, 0);
    p_->on_attached(self_, &i);
  }
  bool on_frame(const Input& in, Output& out) override {
    const shmframe_frame f = c_frame(in);
    input_ = &in;
    output_ = &out;
    const int r = p_->on_frame(self_, &f);
    input_ = nullptr;
    output_ = nullptr;
    return result(r, "on_frame");
  }
  // SetProcessor: only for a table with on_set (load_set_plugin() checked).
  void on_attached(std::size_t stream, const StreamInfo& info) override {
    if (p_->on_attached == nullptr) return;
    const shmframe_stream_info i = c_info(info, stream, members_);
    p_->on_attached(self_, &i);
  }
  bool on_set(std::span<const Input> set, Output& out) override {
    std::array<shmframe_frame, kMaxSyncStreams> frames{};
    std::array<const shmframe_frame*, kMaxSyncStreams> ptrs{};
    const std::size_t n = std::min(set.size(), frames.size());
    for (std::size_t i = 0; i < n; ++i) {
      frames[i] = c_frame(set[i]);
      ptrs[i] = &frames[i];
    }
    set_ = set;
    output_ = &out;
    const int r = p_->on_set(self_, ptrs.data(), static_cast<std::uint32_t>(n));
    set_ = {};
    output_ = nullptr;
    return result(r, "on_set");
  }
  void on_producer_lost(std::size_t stream, const StreamInfo& info, std::string_view why) override {
    if (!SHMFRAME_HAS_FIELD(p_, shmframe_plugin, on_producer_lost) || p_->on_producer_lost == nullptr) return;
    const shmframe_stream_info i = c_info(info, stream, members_);
    const std::string w(why);
    p_->on_producer_lost(self_, &i, w.c_str());
  }
  void on_closed(std::size_t stream, std::uint64_t generation) override {
    if (p_->on_member_closed != nullptr) p_->on_member_closed(self_, static_cast<std::uint32_t>(stream), generation);
  }
  // Sets of `members` streams from now on.
  void take_sets(std::size_t members) noexcept { members_ = static_cast<std::uint32_t>(members); }

  void on_producer_lost(const StreamInfo& info, std::string_view why) override {
    if (!SHMFRAME_HAS_FIELD(p_, shmframe_plugin, on_producer_lost) || p_->on_producer_lost == nullptr) return;
    const shmframe_stream_info i = c_info(info, 0, 0);
    const std::string w(why);
    p_->on_producer_lost(self_, &i, w.c_str());
  }
  void on_closed(std::uint64_t generation) override {
    if (SHMFRAME_HAS_FIELD(p_, shmframe_plugin, on_closed) && p_->on_closed != nullptr)
      p_->on_closed(self_, generation);
  }
  void on_idle(const RunStatus& s) override {
    if (!SHMFRAME_HAS_FIELD(p_, shmframe_plugin, on_idle) || p_->on_idle == nullptr) return;
    shmframe_run_status c{};
    c.size = sizeof c;
    c.now_ns = s.now_ns;
    c.frames = s.reader.frames;
    c.drops = s.reader.drops;
    c.overruns = s.reader.overruns;
    c.processed = s.processed;
    c.discarded = s.discarded;
    c.errors = s.errors;
    c.published = s.published;
    c.heartbeat_age_ns = s.stream.heartbeat_age_ns;
    c.sets = s.sets;
    c.unmatched = s.unmatched;
    p_->on_idle(self_, &c);
  }

 private:
  // The host's callbacks (plugin.h): `ctx` is this object.
  static void host_log(void* ctx, int level, const char* m) {
    auto* self = static_cast<PluginProcessor*>(ctx);
    if (!self->log_ || m == nullptr) return;
    const int l = std::clamp(level, 0, 3);
    try {
      self->log_(static_cast<LogLevel>(l), self->p_->name + std::string(": ") + m);
    } catch (...) {  // the log callback's failure is not the plugin's
    }
  }
  static int host_still_valid(void* ctx) {
    auto* self = static_cast<PluginProcessor*>(ctx);
    if (!self->set_.empty()) {
      return still_valid(self->set_) ? 1 : 0;
    }
    return self->input_ != nullptr && self->input_->still_valid() ? 1 : 0;
  }
  static int host_output_enabled(void* ctx) {
    auto* self = static_cast<PluginProcessor*>(ctx);
    return self->output_ != nullptr && self->output_->enabled() ? 1 : 0;
  }
  static int host_output_acquire(void* ctx, const shmframe_format* f, shmframe_out_buffer* out) {
    auto* self = static_cast<PluginProcessor*>(ctx);
    if (self->output_ == nullptr || f == nullptr || out == nullptr) return -1;
    // Any raw one-plane format (gray16 depth or disparity, rgba8, yuyv, Bayer...): shmframe_out_buffer
    // describes one plane; not jpeg, nv12 or i420.
    const auto pf = static_cast<PixelFormat>(f->pixel_format);
    if (!is_known(pf) || is_compressed(pf) || FrameFormat{1, 1, pf, 0}.plane_count() != 1) {
      host_log(ctx, SHMFRAME_LOG_ERROR,
               ("output_acquire: pixel format " + std::to_string(f->pixel_format) +
                " cannot be acquired (a plugin's output is a one-plane raw format: not jpeg, nv12 or i420)")
                   .c_str());
      return -1;
    }
    const OutputBuffer b = self->output_->acquire(
        FrameFormat{f->width, f->height, static_cast<PixelFormat>(f->pixel_format), 0});
    if (!b) return -1;
    out->data = reinterpret_cast<std::uint8_t*>(b.data);
    out->format = c_format(b.format);
    return 0;
  }
  static int host_output_commit(void* ctx, const std::uint8_t* md, std::uint64_t n) {
    auto* self = static_cast<PluginProcessor*>(ctx);
    if (self->output_ == nullptr || (md == nullptr && n != 0)) return -1;
    return self->output_->commit({reinterpret_cast<const std::byte*>(md), static_cast<std::size_t>(n)}) ? 0 : -1;
  }

  static shmframe_stream_info c_info(const StreamInfo& info, std::size_t member, std::uint32_t members) noexcept {
    shmframe_stream_info i{};
    i.size = sizeof i;
    i.producer_pid = info.writer_pid;
    i.stream = "";
    i.generation = info.generation;
    i.format = c_format(info.format);
    i.slots = info.slots;
    i.member = static_cast<std::uint32_t>(member);
    i.members = members;
    return i;
  }
  static shmframe_frame c_frame(const Input& in) noexcept {
    shmframe_frame f{};
    f.size = sizeof f;
    f.data = reinterpret_cast<const std::uint8_t*>(in.data());
    f.format = c_format(in.format());
    f.seq = in.seq();
    f.generation = in.generation();
    f.capture_ns = in.capture_ns();
    f.commit_ns = in.commit_ns();
    f.now_ns = in.now_ns();
    f.dropped = in.dropped();
    f.metadata = reinterpret_cast<const std::uint8_t*>(in.metadata().data());
    f.metadata_size = in.metadata().size();
    f.origin_stream = in.origin().stream.c_str();
    f.origin_seq = in.origin().seq;
    f.origin_generation = in.origin().generation;
    f.origin_capture_ns = in.origin().capture_ns;
    f.origin_hops = in.origin().hops;
    f.plane_count = in.plane_count();
    for (std::uint32_t i = 0; i < f.plane_count && i < SHMFRAME_MAX_PLANES; ++i) {
      const PlaneView p = in.plane(i);
      f.planes[i] = {reinterpret_cast<const std::uint8_t*>(p.data), p.stride, p.row_bytes, p.rows};
    }
    f.payload_bytes = in.payload_bytes();
    return f;
  }
  static bool result(int r, const char* what) {
    if (r == SHMFRAME_FRAME_OK) return true;
    if (r == SHMFRAME_FRAME_DISCARD) return false;
    throw std::runtime_error(std::string(what) + " returned " + std::to_string(r));  // run() logs and counts it
  }

  Library lib_;  // declared first: destroyed last, after the instance
  const shmframe_plugin* p_;
  std::string path_;
  LogCallback log_;
  shmframe_host host_{};
  void* self_ = nullptr;
  const Input* input_ = nullptr;
  std::span<const Input> set_;
  std::uint32_t members_ = 0;
  Output* output_ = nullptr;
};

std::string resolve(std::string_view plugin, const std::vector<std::string>& search_path) {
  std::string p(plugin);
  // A path is loaded as named: the user chose that file.
  if (p.find('/') != std::string::npos) {
    if (!is_file(p)) throw Error(errc::not_found, "plugin " + p + ": no such file");
    return p;
  }
  if (p.empty()) throw Error(errc::invalid_argument, "plugin: empty name");
  // A name runs code found in a directory: only where nobody but root and us can put it
  // (docs/RELIABILITY.md, "Plugins"). A consumer run as root must not load what another user
  // planted, say next to a copy of the binary in /tmp.
  std::string looked;
  std::string skipped;
  const auto skip = [&skipped](const std::string& what, const std::string& why) {
    skipped.append(skipped.empty() ? "" : "; ").append(what).append(" (").append(why).append(")");
  };
  for (const auto& dir : search_path) {
    looked.append(looked.empty() ? "" : ", ").append(dir);
    const std::string real_dir = real_path(dir);
    if (real_dir.empty()) continue;  // absent: nothing to skip
    if (std::string why = distrust_dir(real_dir); !why.empty()) {
      skip("directory " + dir, why);
      continue;
    }
    for (const char* prefix : {"", "shmframe-", "libshmframe-"}) {
      std::string candidate = dir;
      candidate.append("/").append(prefix).append(p).append(".so");
      if (!is_file(candidate)) continue;
      std::string real;
      if (std::string why = distrust_file(candidate, real); !why.empty()) {
        skip(candidate, why);
        continue;
      }
      return real;
    }
  }
  std::string what = "plugin '" + p + "' not found (looked for " + p + ".so, shmframe-" + p + ".so, libshmframe-" + p;
  what.append(".so in: ").append(looked.empty() ? std::string("no directory") : looked).append(")");
  if (!skipped.empty()) {
    what.append("; skipped, as another user could have placed them: ")
        .append(skipped)
        .append(". Give a plugin's path to load it anyway");
  }
  what.append("; give its path, or add its directory to SHMFRAME_PLUGIN_PATH");
  throw Error(errc::not_found, what);
}

}  // namespace

std::vector<std::string> plugin_search_path(const std::vector<std::string>& extra) {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("SHMFRAME_PLUGIN_PATH"); env != nullptr) {
    std::string_view rest(env);
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      const std::string_view d = rest.substr(0, colon);
      if (!d.empty()) dirs.emplace_back(d);
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  dirs.insert(dirs.end(), extra.begin(), extra.end());
  return dirs;
}

namespace {

// Opens, checks and instantiates the plugin; `sets`: for a SyncReader's sets (run(SyncReader&, ...)).
std::unique_ptr<PluginProcessor> open_plugin(std::string_view plugin,
                                             const std::vector<std::pair<std::string, std::string>>& args,
                                             const std::vector<std::string>& search_path, LogCallback log,
                                             PluginInfo* info, bool sets) {
  const std::string path = resolve(plugin, search_path);
  Library lib(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!lib) {
    const char* why = dlerror();
    throw Error(errc::invalid_argument,
                "plugin " + path + ": cannot load it (" + (why != nullptr ? why : "unknown reason") + ")");
  }
  dlerror();
  void* sym = dlsym(lib.get(), SHMFRAME_PLUGIN_ENTRY_SYMBOL);
  if (sym == nullptr) {
    throw Error(errc::invalid_argument, "plugin " + path + ": not a shmframe plugin (it exports no " +
                                            SHMFRAME_PLUGIN_ENTRY_SYMBOL +
                                            "; see shmframe/plugin.hpp, SHMFRAME_PLUGIN)");
  }
  shmframe_plugin_entry_fn entry = nullptr;
  static_assert(sizeof entry == sizeof sym);
  std::memcpy(&entry, &sym, sizeof entry);  // object pointer -> function pointer, as POSIX allows
  const shmframe_plugin* p = entry();
  if (p == nullptr) throw Error(errc::invalid_argument, "plugin " + path + ": its entry point returned nothing");
  if (p->abi != SHMFRAME_PLUGIN_ABI) {
    throw Error(errc::invalid_argument, "plugin " + path + ": built for plugin ABI " + std::to_string(p->abi) +
                                            ", this consumer speaks " + std::to_string(SHMFRAME_PLUGIN_ABI) +
                                            ": rebuild it against this shmframe");
  }
  // A table from an older plugin may be smaller than ours (plugin.h, version rule): everything
  // up to on_frame is required, the callbacks after it are optional; on_frame may be NULL in a
  // plugin that takes sets.
  const bool takes_sets = SHMFRAME_HAS_FIELD(p, shmframe_plugin, on_member_closed) && p->on_set != nullptr;
  if (!SHMFRAME_HAS_FIELD(p, shmframe_plugin, on_frame) || p->name == nullptr || p->create == nullptr ||
      p->destroy == nullptr || (p->on_frame == nullptr && !takes_sets)) {
    throw Error(errc::invalid_argument, "plugin " + path + ": its table is incomplete (size " +
                                            std::to_string(p->size) + ", at least " +
                                            std::to_string(offsetof(shmframe_plugin, on_frame) + sizeof(void*)) +
                                            "; name, create, destroy and on_frame or on_set are required)");
  }
  if (sets && !takes_sets) {
    throw Error(errc::invalid_argument, "plugin " + path + " (" + p->name +
                                            ") takes single frames, not synchronised sets: run it on one stream "
                                            "(one --name, no --sync)");
  }
  if (!sets && p->on_frame == nullptr) {
    throw Error(errc::invalid_argument, "plugin " + path + " (" + p->name +
                                            ") takes synchronised sets, not single frames: give it 2 to 8 streams "
                                            "(--name A --name B --sync exact|approximate)");
  }
  if (info != nullptr) *info = PluginInfo{path, p->name, p->description != nullptr ? p->description : ""};
  auto proc = std::make_unique<PluginProcessor>(std::move(lib), p, path, std::move(log));
  proc->create(args);
  return proc;
}

}  // namespace

std::unique_ptr<Processor> load_plugin(std::string_view plugin,
                                       const std::vector<std::pair<std::string, std::string>>& args,
                                       const std::vector<std::string>& search_path, LogCallback log, PluginInfo* info) {
  return open_plugin(plugin, args, search_path, std::move(log), info, false);
}

std::unique_ptr<SetProcessor> load_set_plugin(std::string_view plugin, std::size_t streams,
                                              const std::vector<std::pair<std::string, std::string>>& args,
                                              const std::vector<std::string>& search_path, LogCallback log,
                                              PluginInfo* info) {
  auto proc = open_plugin(plugin, args, search_path, std::move(log), info, true);
  proc->take_sets(streams);
  return proc;
}

}  // namespace shmframe
