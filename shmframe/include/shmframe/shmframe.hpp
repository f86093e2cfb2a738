// shmframe/shmframe.hpp: the whole public API in one include (OpenCV-free; add
// <shmframe/opencv.hpp> for cv::Mat access).
#pragma once

#include "shmframe/clock.hpp"
#include "shmframe/error.hpp"
#include "shmframe/format.hpp"
#include "shmframe/frame.hpp"
#include "shmframe/info.hpp"
#include "shmframe/inspect.hpp"
#include "shmframe/log.hpp"
#include "shmframe/modes.hpp"
#include "shmframe/names.hpp"
#include "shmframe/origin.hpp"
#include "shmframe/pattern.hpp"
#include "shmframe/processor.hpp"
#include "shmframe/reader.hpp"
#include "shmframe/sync_reader.hpp"
#include "shmframe/writer.hpp"
