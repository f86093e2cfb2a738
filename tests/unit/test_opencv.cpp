// The OpenCV adapter (shmframe/opencv.hpp, target shmframe::opencv): frame.mat() and slot.mat()
// are headers over shared memory at the stream's stride, copy_latest(reader, mat) gives a tight
// validated copy, publish(cv::Mat) copies into the slot. Built only when OpenCV is available.
#include <gtest/gtest.h>

#include <cstring>
#include <opencv2/core.hpp>
#include <shmframe/opencv.hpp>
#include <shmframe/shmframe.hpp>

#include "padded_cases.hpp"
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

// ---- padded rows ---------------------------------------------------------------------------

class PaddedStrideOpenCv : public testkit::StreamTest, public ::testing::WithParamInterface<testkit::PaddedCase> {
 protected:
  void start_padded() {
    WriterOptions o = small_options({.slots = 3});
    o.format = GetParam().format();
    o.stride_align = GetParam().align;
    start(o);
  }
  // A tight image whose rows carry the row pattern of `tag`.
  cv::Mat image(std::uint64_t tag) const {
    const auto& c = GetParam();
    cv::Mat m(static_cast<int>(c.height), static_cast<int>(c.width), cv_type(c.pixel_format));
    for (int y = 0; y < m.rows; ++y) {
      testkit::fill_row(reinterpret_cast<std::byte*>(m.ptr(y)), m.cols * m.elemSize(), tag,
                        static_cast<std::uint32_t>(y));
    }
    return m;
  }
};

TEST_P(PaddedStrideOpenCv, SlotAndFrameMatsUseTheStride) {
  const auto& c = GetParam();
  start_padded();
  {
    WriteSlot s = w().acquire();
    ASSERT_TRUE(s);
    cv::Mat m = s.mat();
    EXPECT_EQ(m.step[0], c.expected_stride);
    image(4).copyTo(m);  // in place: the header's data does not move
    EXPECT_EQ(static_cast<void*>(m.data), static_cast<void*>(s.data()));
    std::memset(s.row(0) + s.format().row_bytes(), 0x5C, s.stride() - s.format().row_bytes());  // padding: junk
    ASSERT_TRUE(w().commit(s, 4));
  }
  Event e = next_frame();
  ASSERT_TRUE(e.frame);
  const cv::Mat m = e.frame.mat();
  EXPECT_EQ(m.step[0], c.expected_stride);
  EXPECT_EQ(m.cols, static_cast<int>(c.width));
  EXPECT_EQ(cv::norm(m, image(4), cv::NORM_INF), 0.0) << "padding must not show in the Mat";
}

TEST_P(PaddedStrideOpenCv, CopyLatestGivesATightContinuousMat) {
  start_padded();
  ASSERT_TRUE(w().publish(image(6), 1));
  cv::Mat out;
  std::uint64_t seq = 0;
  ASSERT_TRUE(shmframe::copy_latest(r(), out, &seq));
  EXPECT_EQ(seq, 1u);
  EXPECT_TRUE(out.isContinuous());
  EXPECT_EQ(out.step[0], out.cols * out.elemSize());
  EXPECT_EQ(cv::norm(out, image(6), cv::NORM_INF), 0.0);
}

TEST_P(PaddedStrideOpenCv, PublishAMatIntoAPaddedStream) {
  const auto& c = GetParam();
  start_padded();
  // A tight Mat and a ROI (its rows are not contiguous either).
  cv::Mat big(static_cast<int>(c.height) + 2, static_cast<int>(c.width) + 5, cv_type(c.pixel_format),
              cv::Scalar::all(0));
  cv::Mat roi = big(cv::Rect(3, 1, static_cast<int>(c.width), static_cast<int>(c.height)));
  image(8).copyTo(roi);
  for (const cv::Mat& src : {image(8), roi}) {
    const CommitResult res = w().publish(src, 1);
    ASSERT_TRUE(res) << to_string(res.status);
    Event e = next_frame();
    ASSERT_TRUE(e.frame);
    EXPECT_EQ(cv::norm(e.frame.mat(), image(8), cv::NORM_INF), 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Stride, PaddedStrideOpenCv, ::testing::ValuesIn(testkit::kPaddedCases),
                         [](const auto& p) { return p.param.label(); });
