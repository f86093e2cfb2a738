// tests/gst/gst_unlock.cpp: shmframe-gst-unlock, how long shmframesrc takes to leave PLAYING while
// its streaming thread waits for a frame (tests/gst/unlock.sh).
//
//   shmframe-gst-unlock STREAM RUNS BOUND_MS [PROPERTIES...]
//
// For each of RUNS runs: `shmframesrc stream=STREAM PROPERTIES ! fakesink` goes to PLAYING; once
// the source has attached (its 'shmframe-attached' message, with SHMFRAME_GST_UNLOCK_ATTACHED set)
// or 200 ms later (a missing stream: the streaming thread waits for it), the pipeline is set to
// NULL and that call is timed. Prints each time; exits 0 when the
// best run took less than BOUND_MS (the best: a busy CI machine may deschedule one run), 1
// otherwise, 2 on bad usage or a pipeline that fails. GST_PLUGIN_PATH must hold the plugin.
#include <gst/gst.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

// Waits up to 10 s for an element message `name`; false on an error message or the time out.
bool wait_for(GstElement* pipeline, const char* name) {
  GstBus* bus = gst_element_get_bus(pipeline);
  bool ok = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ok) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) break;
    GstMessage* m = gst_bus_timed_pop(
        bus, static_cast<GstClockTime>(std::chrono::duration_cast<std::chrono::nanoseconds>(left).count()));
    if (m == nullptr) break;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      GError* err = nullptr;
      gst_message_parse_error(m, &err, nullptr);
      std::fprintf(stderr, "shmframe-gst-unlock: pipeline error: %s\n", err != nullptr ? err->message : "?");
      g_clear_error(&err);
      gst_message_unref(m);
      break;
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT && gst_structure_has_name(gst_message_get_structure(m), name)) {
      ok = true;
    }
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  if (argc < 4) {
    std::fprintf(stderr, "usage: shmframe-gst-unlock STREAM RUNS BOUND_MS [PROPERTIES...]\n");
    return 2;
  }
  std::string desc = std::string("shmframesrc stream=") + argv[1];
  for (int i = 4; i < argc; ++i) desc += std::string(" ") + argv[i];
  desc += " ! fakesink";
  const int runs = std::atoi(argv[2]);
  const double bound_ms = std::atof(argv[3]);
  const bool attached = std::getenv("SHMFRAME_GST_UNLOCK_ATTACHED") != nullptr;
  double best = 1e9;
  for (int r = 0; r < runs; ++r) {
    GError* err = nullptr;
    GstElement* pipeline = gst_parse_launch(desc.c_str(), &err);
    if (pipeline == nullptr) {
      std::fprintf(stderr, "shmframe-gst-unlock: %s: %s\n", desc.c_str(), err != nullptr ? err->message : "?");
      return 2;
    }
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    if (attached && !wait_for(pipeline, "shmframe-attached")) {
      std::fprintf(stderr, "shmframe-gst-unlock: the source did not attach (%s)\n", desc.c_str());
      gst_element_set_state(pipeline, GST_STATE_NULL);
      gst_object_unref(pipeline);
      return 2;
    }
    // The streaming thread is in its wait by now (for a frame, or for the missing stream); a
    // sooner stop would only measure less.
    g_usleep(250'000);  // not a multiple of 50 or 100 ms: a sliced wait (the old source) would be mid-slice
    const auto t0 = std::chrono::steady_clock::now();
    gst_element_set_state(pipeline, GST_STATE_NULL);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    gst_object_unref(pipeline);
    std::printf("run %d: PLAYING -> NULL in %.2f ms\n", r + 1, ms);
    best = ms < best ? ms : best;
  }
  std::printf("best %.2f ms (bound %.0f ms)\n", best, bound_ms);
  return best < bound_ms ? 0 : 1;
}
