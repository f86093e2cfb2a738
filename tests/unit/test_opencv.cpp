// The OpenCV adapter (shmframe/opencv.hpp, target shmframe::opencv): frame.mat() is a header
// over shared memory, copy_latest(reader, mat) gives a validated copy, publish(cv::Mat) copies
// into the slot. Built only when OpenCV is available.
#include <gtest/gtest.h>

#include <cstring>
#include <opencv2/core.hpp>
#include <shmframe/opencv.hpp>
#include <shmframe/shmframe.hpp>

#include "stream_test.hpp"
#include "testkit.hpp"

using namespace shmframe;
using namespace std::chrono_literals;
using testkit::small_options;

using OpenCv = testkit::StreamTest;

TEST_F(OpenCv, FrameMatIsAHeaderOverTheSlot) {
  start();
  put(3);
  Event e = next_frame();
  ASSERT_TRUE(e.frame);
  const cv::Mat m = e.frame.mat();
  EXPECT_EQ(m.cols, 64);
  EXPECT_EQ(m.rows, 32);
  EXPECT_EQ(m.type(), CV_8UC1);
  EXPECT_EQ(static_cast<const void*>(m.data), static_cast<const void*>(e.frame.data())) << "mat() must not copy";
  EXPECT_TRUE(testkit::check_pattern(reinterpret_cast<const std::byte*>(m.data), 64 * 32, 3));
  EXPECT_TRUE(Frame().mat().empty());
}

TEST_F(OpenCv, CopyLatestIntoAMatValidatesTheCopy) {
  start();
  cv::Mat out;
  std::uint64_t seq = 0;
  EXPECT_FALSE(shmframe::copy_latest(r(), out, &seq));
  put(1);
  put(2);
  ASSERT_TRUE(shmframe::copy_latest(r(), out, &seq));
  EXPECT_EQ(seq, 2u);
  ASSERT_TRUE(out.isContinuous());
  EXPECT_TRUE(testkit::check_pattern(reinterpret_cast<const std::byte*>(out.data), 64 * 32, 2));
}

TEST_F(OpenCv, PublishCopiesAMatAndRejectsAMismatch) {
  WriterOptions o;
  o.format = FrameFormat{16, 8, PixelFormat::bgr8, 0};
  start(o);
  cv::Mat img(8, 16, CV_8UC3, cv::Scalar(1, 2, 3));
  EXPECT_EQ(w().publish(img, 5).seq, 1u);
  EXPECT_EQ(w().publish(cv::Mat(8, 15, CV_8UC3), 5).status, CommitStatus::format_mismatch);
  EXPECT_EQ(w().publish(cv::Mat(8, 16, CV_8UC1), 5).status, CommitStatus::format_mismatch);
  EXPECT_EQ(w().publish(cv::Mat(8, 16, CV_16UC3), 5).status, CommitStatus::format_mismatch);
  EXPECT_EQ(w().publish(cv::Mat(), 5).status, CommitStatus::format_mismatch);
  Event e = next_frame();
  ASSERT_TRUE(e.frame);
  EXPECT_EQ(cv::norm(e.frame.mat(), img, cv::NORM_INF), 0.0);
}
