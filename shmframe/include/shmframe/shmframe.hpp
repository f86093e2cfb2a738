// shmframe/shmframe.hpp: the whole public API in one include.
#pragma once

#include "shmframe/clock.hpp"
#include "shmframe/error.hpp"
#include "shmframe/format.hpp"
#include "shmframe/inspect.hpp"
#include "shmframe/reader.hpp"
#include "shmframe/writer.hpp"
