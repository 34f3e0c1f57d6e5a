// ecg_protocol.h - the device side of the ECG stream protocol v1
// (firmware/PROTOCOL.md) and the sample queue between the sampling
// interrupt and the sender.
//
// Plain C++11 with no Arduino dependency, so the sketch
// (firmware/ecg_monitor), the host test client (firmware/host_client.cpp)
// and the host unit tests (firmware/tests/test_protocol.cpp) all use this
// one file: what the tests check is what the Nano 33 IoT sends.  C++11
// because the Arduino SAMD core compiles sketches with -std=gnu++11.
//
// Three pieces:
//   * encode_frame(): one binary batch frame, byte for byte PROTOCOL.md 3.
//   * SpscRing / SampleQueue: a lock-free single-producer single-consumer
//     queue.  Only atomic loads and stores are used (no read-modify-write),
//     which a Cortex-M0+ does natively.  A full queue drops the new sample,
//     counts it, and marks the next queued sample with how many were lost
//     right before it.
//   * FrameBuilder: batches samples into frames with sequence numbers.  A
//     hole left by dropped samples closes the current batch early and makes
//     the sequence number jump, so the gateway sees the loss as a gap
//     (PROTOCOL.md 4) instead of splicing the two sides of the hole together.
#ifndef ECG_PROTOCOL_H
#define ECG_PROTOCOL_H

#include <atomic>
#include <stddef.h>
#include <stdint.h>

namespace ecg {

const uint8_t kMagic = 0xEC;
const uint8_t kVersion = 1;
const size_t kHeaderBytes = 12;
const uint16_t kMaxSamplesPerFrame = 1024;
const uint8_t kFlagLeadOffPlus = 0x01;   // LO+ electrode off
const uint8_t kFlagLeadOffMinus = 0x02;  // LO- electrode off
const uint8_t kLeadFlagsMask = kFlagLeadOffPlus | kFlagLeadOffMinus;

// Size in bytes of a binary frame carrying `count` samples.
inline size_t frame_bytes(uint16_t count) { return kHeaderBytes + 2u * count; }

inline void put_u16le(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xFFu);
  p[1] = static_cast<uint8_t>(v >> 8);
}

inline void put_u32le(uint8_t* p, uint32_t v) {
  put_u16le(p, static_cast<uint16_t>(v & 0xFFFFu));
  put_u16le(p + 2, static_cast<uint16_t>(v >> 16));
}

// Writes one binary frame into `out` and returns its size in bytes, or 0
// (nothing written) when `count` is not 1..1024, `flags` has bits other than
// the two lead-off bits, or the frame does not fit in `capacity` bytes.
// Samples are written as int16 little-endian whatever the host's byte order.
inline size_t encode_frame(uint8_t* out, size_t capacity, uint32_t seq, uint8_t flags,
                           const int16_t* samples, uint16_t count) {
  if (count < 1 || count > kMaxSamplesPerFrame || (flags & ~kLeadFlagsMask) != 0) return 0;
  const size_t size = frame_bytes(count);
  if (size > capacity) return 0;
  out[0] = kMagic;
  out[1] = kVersion;
  out[2] = flags;
  out[3] = 0;
  put_u32le(out + 4, seq);
  put_u16le(out + 8, count);
  put_u16le(out + 10, 0);
  for (uint16_t i = 0; i < count; ++i) {
    put_u16le(out + kHeaderBytes + 2u * i, static_cast<uint16_t>(samples[i]));
  }
  return size;
}

// Lock-free queue for exactly one producer (e.g. an interrupt handler) and
// one consumer (e.g. loop()).  Indices run freely modulo 2^32; N must be a
// power of two so that it divides 2^32 and the wrap needs no special case.
template <typename T, uint32_t N>
class SpscRing {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "SpscRing capacity must be a power of two >= 2");

 public:
  SpscRing() : buf_(), head_(0), tail_(0), overflows_(0) {}

  // Producer only.  Returns false, and counts an overflow, when full.
  bool push(const T& item) {
    const uint32_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_.load(std::memory_order_acquire) == N) {
      overflows_.store(overflows_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
    buf_[head & (N - 1)] = item;
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer only.  Returns false when empty.
  bool pop(T& item) {
    const uint32_t tail = tail_.load(std::memory_order_relaxed);
    if (head_.load(std::memory_order_acquire) == tail) return false;
    item = buf_[tail & (N - 1)];
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer only: drops everything queued now; returns how many items.
  uint32_t discard() {
    const uint32_t head = head_.load(std::memory_order_acquire);
    const uint32_t dropped = head - tail_.load(std::memory_order_relaxed);
    tail_.store(head, std::memory_order_release);
    return dropped;
  }

  // Items queued (a snapshot; exact from either side's own point of view).
  uint32_t size() const { return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire); }
  // Items refused because the ring was full, since construction.
  uint32_t overflows() const { return overflows_.load(std::memory_order_relaxed); }

 private:
  T buf_[N];
  std::atomic<uint32_t> head_;       // written by the producer only
  std::atomic<uint32_t> tail_;       // written by the consumer only
  std::atomic<uint32_t> overflows_;  // written by the producer only
};

// One ADC reading as it travels from the interrupt to the sender.
struct Sample {
  int16_t value;         // ADC counts
  uint8_t lead_flags;    // kFlagLeadOffPlus | kFlagLeadOffMinus, read with this sample
  uint16_t lost_before;  // samples dropped just before this one (queue full), saturating
};

// The queue between the sampling interrupt (put) and the sender (take).
template <uint32_t N>
class SampleQueue {
 public:
  SampleQueue() : pending_lost_(0) {}

  // Producer only.  When the queue is full the sample is dropped, and the
  // next sample that gets in carries the number dropped before it.
  void put(int16_t value, uint8_t lead_flags) {
    Sample s;
    s.value = value;
    s.lead_flags = lead_flags;
    s.lost_before = pending_lost_;
    if (ring_.push(s)) {
      pending_lost_ = 0;
    } else if (pending_lost_ < 0xFFFFu) {
      ++pending_lost_;
    }
  }

  bool take(Sample& s) { return ring_.pop(s); }   // consumer only
  uint32_t discard() { return ring_.discard(); }  // consumer only
  uint32_t size() const { return ring_.size(); }
  // Samples dropped because the queue was full, since construction.
  uint32_t dropped() const { return ring_.overflows(); }

 private:
  SpscRing<Sample, N> ring_;
  uint16_t pending_lost_;  // producer only
};

// Batches samples into binary frames of `batch` samples (MaxBatch at most),
// numbering frames 0, 1, 2, ... from the start of each connection.
template <uint16_t MaxBatch>
class FrameBuilder {
  static_assert(MaxBatch >= 1 && MaxBatch <= kMaxSamplesPerFrame, "MaxBatch must be 1..1024");

 public:
  // `batch` outside 1..MaxBatch is clamped into it; callers taking it from
  // a user check it first (see host_client.cpp).
  explicit FrameBuilder(uint16_t batch = MaxBatch)
      : batch_(batch < 1 ? 1 : (batch > MaxBatch ? MaxBatch : batch)) {
    start_connection();
  }

  // A new connection: sequence numbers restart at 0 and nothing is pending.
  // Samples lost before the first sample of a connection are not a gap of
  // that connection (the gateway treats every reconnect as a gap anyway).
  void start_connection() {
    seq_ = 0;
    count_ = 0;
    flags_ = 0;
    started_ = false;
    frame_size_ = 0;
  }

  // Adds one sample.  Returns true when a frame is ready: read it with
  // frame()/frame_size() before the next call.  A sample that follows a hole
  // first completes the pending (short) batch, then moves the sequence number
  // on by the number of frames the lost samples would have filled.
  bool add(const Sample& s) {
    bool ready = false;
    if (s.lost_before > 0 && started_) {
      if (count_ > 0) ready = finish();
      seq_ += (static_cast<uint32_t>(s.lost_before) + batch_ - 1) / batch_;
    }
    started_ = true;
    samples_[count_++] = s.value;
    flags_ |= static_cast<uint8_t>(s.lead_flags & kLeadFlagsMask);
    // Both cannot happen in one call: a hole completes a non-empty batch,
    // after which this one holds a single sample, and batch 1 is never pending.
    if (count_ == batch_) ready = finish();
    return ready;
  }

  // Completes a pending partial batch (e.g. before closing); true if one was.
  bool flush() { return count_ > 0 && finish(); }

  const uint8_t* frame() const { return frame_; }
  size_t frame_size() const { return frame_size_; }
  uint16_t batch() const { return batch_; }
  uint32_t next_seq() const { return seq_; }
  uint16_t pending() const { return count_; }

 private:
  bool finish() {
    frame_size_ = encode_frame(frame_, sizeof frame_, seq_, flags_, samples_, count_);
    ++seq_;
    count_ = 0;
    flags_ = 0;
    return true;
  }

  const uint16_t batch_;
  uint32_t seq_;
  uint16_t count_;
  uint8_t flags_;
  bool started_;
  size_t frame_size_;
  int16_t samples_[MaxBatch];
  uint8_t frame_[kHeaderBytes + 2u * MaxBatch];
};

}  // namespace ecg

#endif  // ECG_PROTOCOL_H
