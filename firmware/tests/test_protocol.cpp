// Host unit tests of firmware/ecg_protocol.h against firmware/PROTOCOL.md.
// Built by tests/test_firmware.py with g++ -std=c++17 and -std=c++11 (the
// Arduino SAMD core's dialect), -Wall -Wextra -Werror -pthread.
#include <cstdint>
#include <thread>
#include <vector>

#include "../ecg_protocol.h"
#include "check.h"

namespace {

// A frame read back byte by byte as PROTOCOL.md section 3 lays it out,
// independently of the encoder.
struct Decoded {
  bool ok;
  uint8_t flags;
  uint32_t seq;
  std::vector<int16_t> samples;
};

Decoded decode(const uint8_t* p, size_t size) {
  Decoded d{false, 0, 0, {}};
  if (size < 12 || p[0] != 0xEC || p[1] != 1 || p[3] != 0 || p[10] != 0 || p[11] != 0) return d;
  const uint16_t count = static_cast<uint16_t>(p[8] | (p[9] << 8));
  if (count < 1 || count > 1024 || size != 12u + 2u * count) return d;
  d.flags = p[2];
  d.seq = static_cast<uint32_t>(p[4]) | (static_cast<uint32_t>(p[5]) << 8) | (static_cast<uint32_t>(p[6]) << 16) |
          (static_cast<uint32_t>(p[7]) << 24);
  for (uint16_t i = 0; i < count; ++i) {
    d.samples.push_back(static_cast<int16_t>(p[12 + 2 * i] | (p[13 + 2 * i] << 8)));
  }
  d.ok = true;
  return d;
}

ecg::Sample sample(int16_t value, uint8_t lead = 0, uint16_t lost_before = 0) {
  ecg::Sample s = ecg::Sample();
  s.value = value;
  s.lead_flags = lead;
  s.lost_before = lost_before;
  return s;
}

}  // namespace

TEST(frame_layout_is_the_protocol_header_then_int16_little_endian_samples) {
  const int16_t samples[3] = {0, 4095, 0x1234};
  uint8_t buf[64];
  const size_t n = ecg::encode_frame(buf, sizeof buf, 0x04030201u, ecg::kFlagLeadOffMinus, samples, 3);
  const uint8_t expected[18] = {0xEC, 1, 0x02, 0, 0x01, 0x02, 0x03, 0x04, 3, 0, 0, 0,
                                0x00, 0x00, 0xFF, 0x0F, 0x34, 0x12};
  CHECK_EQ(n, sizeof expected);
  for (size_t i = 0; i < sizeof expected && i < n; ++i) CHECK_EQ(buf[i], expected[i]);
}

TEST(frame_size_is_12_plus_2_per_sample_up_to_1024_samples) {
  std::vector<int16_t> samples(1024, 2048);
  std::vector<uint8_t> buf(ecg::frame_bytes(1024));
  CHECK_EQ(buf.size(), 2060u);
  CHECK_EQ(ecg::encode_frame(buf.data(), buf.size(), 7, 0, samples.data(), 1024), 2060u);
  const Decoded d = decode(buf.data(), buf.size());
  CHECK(d.ok);
  CHECK_EQ(d.samples.size(), 1024u);
  CHECK_EQ(d.seq, 7u);
}

TEST(encoder_refuses_what_the_protocol_forbids) {
  std::vector<int16_t> samples(1025, 1);
  std::vector<uint8_t> buf(4096, 0xAA);
  CHECK_EQ(ecg::encode_frame(buf.data(), buf.size(), 0, 0, samples.data(), 0), 0u);     // empty frame
  CHECK_EQ(ecg::encode_frame(buf.data(), buf.size(), 0, 0, samples.data(), 1025), 0u);  // over 1024
  CHECK_EQ(ecg::encode_frame(buf.data(), buf.size(), 0, 0x04, samples.data(), 1), 0u);  // reserved flag bit
  CHECK_EQ(ecg::encode_frame(buf.data(), 13, 0, 0, samples.data(), 1), 0u);             // does not fit
  CHECK_EQ(buf[0], 0xAA);                                                               // nothing written
}

TEST(ring_is_first_in_first_out_and_refuses_when_full) {
  ecg::SpscRing<int, 4> ring;
  int v = -1;
  CHECK(!ring.pop(v));
  for (int i = 0; i < 4; ++i) CHECK(ring.push(i));
  CHECK(!ring.push(99));
  CHECK_EQ(ring.overflows(), 1u);
  CHECK_EQ(ring.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    CHECK(ring.pop(v));
    CHECK_EQ(v, i);
  }
  CHECK(!ring.pop(v));
}

TEST(ring_keeps_order_across_many_wraps) {
  ecg::SpscRing<int, 8> ring;
  int next_in = 0, next_out = 0, v = 0;
  for (int round = 0; round < 1000; ++round) {
    for (int k = 0; k < 1 + round % 8; ++k) CHECK(ring.push(next_in++));
    while (ring.pop(v)) CHECK_EQ(v, next_out++);
  }
  CHECK_EQ(next_out, next_in);
  CHECK_EQ(ring.overflows(), 0u);
}

TEST(ring_discard_empties_what_is_queued) {
  ecg::SpscRing<int, 8> ring;
  for (int i = 0; i < 5; ++i) ring.push(i);
  CHECK_EQ(ring.discard(), 5u);
  int v = 0;
  CHECK(!ring.pop(v));
  CHECK(ring.push(42));
  CHECK(ring.pop(v));
  CHECK_EQ(v, 42);
}

TEST(ring_hands_over_every_item_in_order_between_two_threads) {
  // Producer and consumer on two threads, as the interrupt and loop() are:
  // every item arrives once, in order; the producer retries when full.
  static ecg::SpscRing<uint32_t, 64> ring;
  const uint32_t total = 100000;
  std::thread producer([&] {
    for (uint32_t i = 0; i < total; ++i) {
      while (!ring.push(i)) std::this_thread::yield();
    }
  });
  uint32_t expected = 0, v = 0;
  bool in_order = true;
  while (expected < total) {
    if (ring.pop(v)) {
      in_order = in_order && (v == expected);
      ++expected;
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  CHECK(in_order);
  CHECK_EQ(expected, total);
}

TEST(a_full_sample_queue_drops_and_marks_the_next_sample_with_the_loss) {
  ecg::SampleQueue<4> q;
  for (int16_t i = 0; i < 4; ++i) q.put(i, 0);
  for (int16_t i = 4; i < 9; ++i) q.put(i, 0);  // 5 dropped: queue full
  CHECK_EQ(q.dropped(), 5u);
  ecg::Sample s = ecg::Sample();
  for (int16_t i = 0; i < 3; ++i) {
    CHECK(q.take(s));
    CHECK_EQ(s.value, i);
    CHECK_EQ(s.lost_before, 0);
  }
  q.put(9, ecg::kFlagLeadOffPlus);
  CHECK(q.take(s));
  CHECK_EQ(s.value, 3);
  CHECK(q.take(s));
  CHECK_EQ(s.value, 9);
  CHECK_EQ(s.lost_before, 5);
  CHECK_EQ(s.lead_flags, ecg::kFlagLeadOffPlus);
  q.put(10, 0);
  CHECK(q.take(s));
  CHECK_EQ(s.lost_before, 0);  // the loss is reported once
}

TEST(builder_makes_full_batches_with_consecutive_sequence_numbers) {
  ecg::FrameBuilder<36> b(36);
  std::vector<Decoded> frames;
  for (int i = 0; i < 36 * 3; ++i) {
    if (b.add(sample(static_cast<int16_t>(i)))) frames.push_back(decode(b.frame(), b.frame_size()));
  }
  CHECK_EQ(frames.size(), 3u);
  for (size_t f = 0; f < frames.size(); ++f) {
    CHECK(frames[f].ok);
    CHECK_EQ(frames[f].seq, f);
    CHECK_EQ(frames[f].samples.size(), 36u);
    CHECK_EQ(frames[f].samples.front(), static_cast<int16_t>(36 * f));
    CHECK_EQ(frames[f].samples.back(), static_cast<int16_t>(36 * f + 35));
  }
  CHECK_EQ(b.pending(), 0);
}

TEST(lead_off_flags_cover_any_sample_of_their_batch_only) {
  ecg::FrameBuilder<4> b(4);
  std::vector<Decoded> frames;
  const uint8_t lead[8] = {0, ecg::kFlagLeadOffPlus, 0, ecg::kFlagLeadOffMinus, 0, 0, 0, 0};
  for (int i = 0; i < 8; ++i) {
    if (b.add(sample(100, lead[i]))) frames.push_back(decode(b.frame(), b.frame_size()));
  }
  CHECK_EQ(frames.size(), 2u);
  CHECK_EQ(frames[0].flags, ecg::kFlagLeadOffPlus | ecg::kFlagLeadOffMinus);
  CHECK_EQ(frames[1].flags, 0);
}

TEST(a_hole_closes_the_batch_early_and_the_sequence_number_jumps) {
  ecg::FrameBuilder<36> b(36);
  std::vector<Decoded> frames;
  for (int i = 0; i < 10; ++i) CHECK(!b.add(sample(static_cast<int16_t>(i))));
  // 40 samples lost before this one: the 10 before the hole go out now, and
  // the numbers of the ceil(40 / 36) = 2 frames they would have filled are skipped.
  CHECK(b.add(sample(50, 0, 40)));
  frames.push_back(decode(b.frame(), b.frame_size()));
  for (int i = 51; i < 51 + 35; ++i) {
    if (b.add(sample(static_cast<int16_t>(i)))) frames.push_back(decode(b.frame(), b.frame_size()));
  }
  CHECK_EQ(frames.size(), 2u);
  CHECK_EQ(frames[0].seq, 0u);
  CHECK_EQ(frames[0].samples.size(), 10u);
  CHECK_EQ(frames[0].samples.back(), 9);
  CHECK_EQ(frames[1].seq, 3u);  // the gateway reads seq 0 -> 3 as 2 frames lost
  CHECK_EQ(frames[1].samples.front(), 50);
  CHECK_EQ(frames[1].samples.size(), 36u);
}

TEST(a_hole_at_a_batch_boundary_only_skips_sequence_numbers) {
  ecg::FrameBuilder<1> b(1);
  CHECK(b.add(sample(1)));
  CHECK_EQ(decode(b.frame(), b.frame_size()).seq, 0u);
  CHECK(b.add(sample(2, 0, 3)));
  const Decoded d = decode(b.frame(), b.frame_size());
  CHECK_EQ(d.seq, 4u);  // frames 1..3 would have carried the 3 lost samples
  CHECK_EQ(d.samples.size(), 1u);
  CHECK_EQ(d.samples[0], 2);
}

TEST(a_new_connection_restarts_at_zero_and_ignores_loss_before_it) {
  ecg::FrameBuilder<2> b(2);
  b.add(sample(1));
  b.add(sample(2));
  b.add(sample(3));  // pending
  b.start_connection();
  CHECK_EQ(b.pending(), 0);
  CHECK_EQ(b.next_seq(), 0u);
  CHECK(!b.add(sample(10, 0, 500)));  // lost while offline: not a gap of this connection
  CHECK(b.add(sample(11)));
  const Decoded d = decode(b.frame(), b.frame_size());
  CHECK_EQ(d.seq, 0u);
  CHECK_EQ(d.samples.size(), 2u);
  CHECK_EQ(d.samples[0], 10);
}

TEST(flush_sends_a_partial_batch_once) {
  ecg::FrameBuilder<36> b(36);
  CHECK(!b.flush());
  for (int i = 0; i < 5; ++i) b.add(sample(static_cast<int16_t>(i)));
  CHECK(b.flush());
  const Decoded d = decode(b.frame(), b.frame_size());
  CHECK(d.ok);
  CHECK_EQ(d.samples.size(), 5u);
  CHECK(!b.flush());
  CHECK_EQ(b.next_seq(), 1u);
}

TEST(batch_size_outside_its_capacity_is_clamped) {
  ecg::FrameBuilder<8> zero(0), big(100);
  CHECK_EQ(zero.batch(), 1);
  CHECK_EQ(big.batch(), 8);
}

TEST(interrupt_to_frames_end_to_end_keeps_every_sample_or_reports_its_loss) {
  // The sketch's path: put() from the "interrupt", take()+add() in "loop()",
  // with a sender that stalls for a while so the queue overflows.  Reading
  // the frames as the gateway does, every sample arrives in order and every
  // lost sample shows up as a sequence jump at exactly the place it was lost.
  ecg::SampleQueue<64> q;
  ecg::FrameBuilder<36> b(36);
  std::vector<int16_t> received;
  uint32_t expected_seq = 0, jumps = 0;
  int16_t next = 0;
  bool contiguous_within_frames = true;
  auto drain = [&] {
    ecg::Sample s = ecg::Sample();
    while (q.take(s)) {
      if (!b.add(s)) continue;
      const Decoded d = decode(b.frame(), b.frame_size());
      if (d.seq != expected_seq) ++jumps;
      expected_seq = d.seq + 1;
      for (size_t i = 1; i < d.samples.size(); ++i) {
        contiguous_within_frames = contiguous_within_frames && (d.samples[i] == d.samples[i - 1] + 1);
      }
      received.insert(received.end(), d.samples.begin(), d.samples.end());
    }
  };
  for (int tick = 0; tick < 3000; ++tick) {
    q.put(next++, 0);
    const bool stalled = tick >= 1000 && tick < 1200;  // 200 ticks > 64 queued: ~136 lost
    if (!stalled && tick % 7 == 0) drain();
  }
  drain();
  b.flush();
  const Decoded last = decode(b.frame(), b.frame_size());
  received.insert(received.end(), last.samples.begin(), last.samples.end());
  CHECK(q.dropped() > 0);
  CHECK_EQ(received.size() + q.dropped(), 3000u);
  CHECK(contiguous_within_frames);
  CHECK_EQ(jumps, 1u);
}

int main() { return check::run_all(); }
