/* shmframe/plugin.h: the C ABI between a consumer (the host) and a processing plugin.
 *
 * A plugin is a shared library exporting one function, shmframe_plugin_entry(), that returns a
 * static table of C function pointers. Only C types cross the boundary, so a plugin built with
 * another compiler or C++ standard library still loads. C++ plugins do not write this by hand:
 * shmframe/plugin.hpp exports a shmframe::Processor class in one line (SHMFRAME_PLUGIN).
 *
 * Version rule: SHMFRAME_PLUGIN_ABI changes for every incompatible change; the host refuses a
 * plugin whose `abi` differs. Structs may grow at the end within one ABI version: each starts
 * with its `size`, and a reader uses only the fields that fit in it (SHMFRAME_HAS_FIELD), both
 * ways: the host takes a plugin table smaller than its own (the callbacks beyond its size are
 * absent), and a plugin (the glue of plugin.hpp) reads a host's frame, info, status and host
 * table only as far as their sizes say. Required in a plugin table: everything up to on_frame
 * (on_frame itself may be NULL in a plugin that takes sets: see "Sets").
 *
 * Sets: a plugin with on_set takes synchronised sets (shmframe-consumer --sync, several --name):
 * one frame per stream, in the order of the names. Its on_frame may then be NULL (it takes sets
 * only); a host that runs single frames refuses such a plugin, and a host that runs sets refuses
 * one without on_set. In a set run, on_attached and on_producer_lost say which stream
 * (shmframe_stream_info::member, members != 0), on_member_closed replaces on_closed, and
 * host->still_valid covers every frame of the set.
 *
 * Threads: the host calls a plugin instance from one thread at a time. Pointers passed to a
 * callback are valid during that call only. No callback may unwind (throw) across this ABI.
 */
#ifndef SHMFRAME_PLUGIN_H
#define SHMFRAME_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMFRAME_PLUGIN_ABI 1u
#define SHMFRAME_PLUGIN_ENTRY_SYMBOL "shmframe_plugin_entry"

/* True when `ptr` (a struct of this ABI, which starts with its size) is large enough to hold
 * `field`: a struct made by an older peer may end before it. */
#define SHMFRAME_HAS_FIELD(ptr, type, field) ((ptr)->size >= offsetof(type, field) + sizeof(((const type*)0)->field))

/* Pixel formats: the values of docs/ABI.md (SegmentHeader::pixel_format, "Pixel formats"). */
enum {
  SHMFRAME_GRAY8 = 1,
  SHMFRAME_BGR8 = 2,
  SHMFRAME_RGB8 = 3,
  SHMFRAME_BGRA8 = 4,
  SHMFRAME_RGBA8 = 5,
  SHMFRAME_GRAY16 = 6,
  SHMFRAME_YUYV = 7,
  SHMFRAME_UYVY = 8,
  SHMFRAME_NV12 = 9,
  SHMFRAME_I420 = 10,
  SHMFRAME_BAYER_RGGB8 = 11,
  SHMFRAME_BAYER_BGGR8 = 12,
  SHMFRAME_BAYER_GRBG8 = 13,
  SHMFRAME_BAYER_GBRG8 = 14,
  SHMFRAME_JPEG = 15
};
#define SHMFRAME_MAX_PLANES 3

/* One plane of a frame: `rows` rows of `row_bytes` pixel bytes, `stride` bytes apart. */
typedef struct shmframe_plane {
  const uint8_t* data;
  uint64_t stride;
  uint32_t row_bytes;
  uint32_t rows;
} shmframe_plane;

/* on_frame results. */
enum {
  SHMFRAME_FRAME_OK = 0,      /* processed */
  SHMFRAME_FRAME_DISCARD = 1, /* the input was overwritten while in use: result thrown away */
  SHMFRAME_FRAME_FAILED = -1  /* failed (say why through host->log); counted, the consumer goes on */
};

/* Log levels of shmframe_host::log. */
enum { SHMFRAME_LOG_DEBUG = 0, SHMFRAME_LOG_INFO = 1, SHMFRAME_LOG_WARN = 2, SHMFRAME_LOG_ERROR = 3 };

typedef struct shmframe_format {
  uint32_t width;
  uint32_t height;
  uint32_t pixel_format; /* SHMFRAME_GRAY8 ... */
  uint32_t stride;       /* bytes per row; in a request, 0 = the stream's choice */
} shmframe_format;

/* A frame of the input stream, in place (read only). */
typedef struct shmframe_frame {
  uint32_t size; /* sizeof(shmframe_frame) */
  uint32_t reserved;
  const uint8_t* data;
  shmframe_format format;
  uint64_t seq;
  uint64_t generation;
  uint64_t capture_ns; /* CLOCK_MONOTONIC */
  uint64_t commit_ns;
  uint64_t now_ns;         /* when the host handed it over */
  uint64_t dropped;        /* frames missed so far */
  const uint8_t* metadata; /* the user's metadata (origin record removed) */
  uint64_t metadata_size;
  const char* origin_stream; /* NUL-terminated: the first stream of the chain */
  uint64_t origin_seq;
  uint64_t origin_generation;
  uint64_t origin_capture_ns;
  uint32_t origin_hops;
  uint32_t reserved2;
  /* Since the camera-native formats (check SHMFRAME_HAS_FIELD(frame, shmframe_frame, payload_bytes)):
   * every plane (nv12: Y then UV pairs; i420: Y, U, V; packed formats one; jpeg one row of
   * payload_bytes), and the frame's bytes (a JPEG's size). */
  uint32_t plane_count;
  uint32_t reserved3;
  shmframe_plane planes[SHMFRAME_MAX_PLANES];
  uint64_t payload_bytes;
} shmframe_frame;

typedef struct shmframe_stream_info {
  uint32_t size; /* sizeof(shmframe_stream_info) */
  int32_t producer_pid;
  const char* stream; /* NUL-terminated */
  uint64_t generation;
  shmframe_format format;
  uint32_t slots;
  uint32_t reserved;
  /* Since synchronised sets (SHMFRAME_HAS_FIELD(info, shmframe_stream_info, members)): in a set
   * run, the stream's index among the names and how many there are; members 0 otherwise. */
  uint32_t member;
  uint32_t members;
} shmframe_stream_info;

typedef struct shmframe_run_status {
  uint32_t size; /* sizeof(shmframe_run_status) */
  uint32_t reserved;
  uint64_t now_ns;
  uint64_t frames;    /* frames taken from the input */
  uint64_t drops;     /* input frames missed */
  uint64_t overruns;  /* input frames overwritten while held */
  uint64_t processed; /* on_frame returned OK */
  uint64_t discarded; /* on_frame returned DISCARD */
  uint64_t errors;    /* on_frame failed */
  uint64_t published; /* output frames committed */
  uint64_t heartbeat_age_ns;
  /* Since synchronised sets (SHMFRAME_HAS_FIELD(status, shmframe_run_status, unmatched)): in a
   * set run, sets delivered and frames released without a set; `processed` and `discarded` then
   * count sets, and frames, drops and overruns sum every stream's. */
  uint64_t sets;
  uint64_t unmatched;
} shmframe_run_status;

/* A buffer of the output stream being written. */
typedef struct shmframe_out_buffer {
  uint8_t* data;
  shmframe_format format; /* stride filled in */
} shmframe_out_buffer;

/* What the host offers a plugin. `ctx` is the host's; pass it back to every call. */
typedef struct shmframe_host {
  uint32_t abi;  /* SHMFRAME_PLUGIN_ABI */
  uint32_t size; /* sizeof(shmframe_host) */
  void* ctx;
  void (*log)(void* ctx, int level, const char* message);
  /* The seqlock check of the frame being processed: 1 if it was not overwritten (yet). */
  int (*still_valid)(void* ctx);
  /* 1 if the consumer publishes an output stream (--output). */
  int (*output_enabled)(void* ctx);
  /* A buffer of the output stream in `format` (a new format starts a new generation): a raw
   * one-plane format (not jpeg, nv12 or i420). 0 on success, -1 if there is no output, the
   * format cannot be acquired, or it failed (logged). */
  int (*output_acquire)(void* ctx, const shmframe_format* format, shmframe_out_buffer* out);
  /* Publishes the acquired buffer with the input's origin and capture time, plus `metadata`.
   * 0 on success, -1 otherwise. */
  int (*output_commit)(void* ctx, const uint8_t* metadata, uint64_t metadata_size);
} shmframe_host;

typedef struct shmframe_arg {
  const char* key;
  const char* value;
} shmframe_arg;

typedef struct shmframe_plugin {
  uint32_t abi;  /* SHMFRAME_PLUGIN_ABI */
  uint32_t size; /* sizeof(shmframe_plugin) */
  const char* name;
  const char* description;
  /* Creates an instance with the user's --plugin-arg KEY=VALUE pairs. Returns NULL on failure
   * (e.g. an unknown argument) after writing a NUL-terminated reason into `error`. The host
   * keeps `host` alive until destroy(). */
  void* (*create)(const shmframe_host* host, const shmframe_arg* args, uint32_t arg_count, char* error,
                  uint32_t error_size);
  void (*destroy)(void* self);
  void (*on_attached)(void* self, const shmframe_stream_info* info);
  int (*on_frame)(void* self, const shmframe_frame* frame); /* SHMFRAME_FRAME_... */
  void (*on_producer_lost)(void* self, const shmframe_stream_info* info, const char* why);
  void (*on_closed)(void* self, uint64_t generation);
  void (*on_idle)(void* self, const shmframe_run_status* status);
  /* Since synchronised sets (see "Sets" above): `count` frames, one per stream, captured
   * together (SHMFRAME_FRAME_...). Output commits carry the first frame's origin. */
  int (*on_set)(void* self, const shmframe_frame* const* frames, uint32_t count);
  void (*on_member_closed)(void* self, uint32_t member, uint64_t generation);
} shmframe_plugin;

/* The one exported symbol. */
typedef const shmframe_plugin* (*shmframe_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMFRAME_PLUGIN_H */
