// shmframe-bench-noop.so: bench::NoopProcessor as a plugin (the plugin-dispatch benchmark).
#include "noop_processor.hpp"

SHMFRAME_PLUGIN(bench::NoopProcessor, "bench-noop", "the plugin-dispatch benchmark's processor")
