// host_client.cpp - the Arduino kit's stand-in on a computer: streams ECG
// samples to an ecg-gateway over WebSocket with exactly the firmware's
// protocol code (ecg_protocol.h: SampleQueue, FrameBuilder, encode_frame),
// so a gateway that accepts this client accepts the kit byte for byte.
//
// A sampler thread plays the TC5 interrupt: it puts samples into the queue
// at the declared rate (times --speed); the main thread plays loop(): it
// takes them, batches them into frames and sends them.  A minimal RFC 6455
// client: HTTP upgrade with Sec-WebSocket-Key (and the server's
// Sec-WebSocket-Accept checked), masked binary frames, ping/pong, and the
// server's text error frames and close frames read and reported.
//
// Build: g++ -std=c++17 -O2 -Wall -Wextra -pthread -o host_client firmware/host_client.cpp
// Usage: host_client --url ws://127.0.0.1:9000/v1/stream --device kit-0001 --token SECRET
//                    [--seconds 10] [--speed 1] [--source ecg|stdin] [--rate 360] [--bits 12]
//                    [--batch 36] [--auth headers|query] [--stall AT:FOR]
//   --source stdin reads whole ADC counts (whitespace-separated) until EOF
//     and sends them as they are; --seconds applies to --source ecg.
//   --stall AT:FOR stops sending for FOR wall-clock seconds once AT seconds
//     of signal are sent, as a congested Wi-Fi would: the queue overflows and
//     the loss reaches the gateway as a sequence jump.
// Prints one summary line "samples=... frames=... dropped=... ..." on stdout,
// the server's messages on stderr.  Exit status: 0 streamed and closed
// normally; 1 bad arguments; 2 could not connect or the handshake was
// refused; 3 the server reported bad frames or closed abnormally.
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ecg_protocol.h"

namespace {

const uint32_t kQueueSize = 1024;  // as on the kit: 2.8 s at 360 Hz
using Clock = std::chrono::steady_clock;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ConnectError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------- options

struct Options {
  std::string host;
  std::string port = "80";
  std::string path = "/";
  std::string device;
  std::string token;
  std::string source = "ecg";
  std::string auth = "headers";
  double seconds = 10.0;
  double speed = 1.0;
  unsigned rate = 360;
  unsigned bits = 12;
  unsigned batch = 36;
  double stall_at = -1.0;
  double stall_for = 0.0;
};

unsigned parse_unsigned(const std::string& name, const std::string& text, unsigned lo, unsigned hi) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < lo || v > hi) {
    throw UsageError(name + ": expected a whole number " + std::to_string(lo) + ".." + std::to_string(hi) +
                     ", got '" + text + "'");
  }
  return static_cast<unsigned>(v);
}

double parse_positive(const std::string& name, const std::string& text, bool allow_zero) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v < 0 || (!allow_zero && v == 0)) {
    throw UsageError(name + ": expected a " + (allow_zero ? "non-negative" : "positive") + " number, got '" + text +
                     "'");
  }
  return v;
}

// ws://host[:port][/path[?query]]
void parse_url(const std::string& url, Options& o) {
  const std::string scheme = "ws://";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    throw UsageError("--url: expected ws://host[:port]/path (wss is not supported), got '" + url + "'");
  }
  const std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  o.path = slash == std::string::npos ? "/" : rest.substr(slash);
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    o.host = authority.substr(0, colon);
    o.port = std::to_string(parse_unsigned("--url port", authority.substr(colon + 1), 1, 65535));
  } else {
    o.host = authority;
  }
  if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']') o.host = o.host.substr(1, o.host.size() - 2);
  if (o.host.empty()) throw UsageError("--url: no host in '" + url + "'");
}

Options parse_args(int argc, char** argv) {
  Options o;
  bool have_url = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) throw UsageError(arg + ": missing value (see the usage at the top of host_client.cpp)");
    const std::string value = argv[++i];
    if (arg == "--url") {
      parse_url(value, o);
      have_url = true;
    } else if (arg == "--device") {
      o.device = value;
    } else if (arg == "--token") {
      o.token = value;
    } else if (arg == "--seconds") {
      o.seconds = parse_positive(arg, value, false);
    } else if (arg == "--speed") {
      o.speed = parse_positive(arg, value, false);
    } else if (arg == "--rate") {
      o.rate = parse_unsigned(arg, value, 50, 10000);
    } else if (arg == "--bits") {
      o.bits = parse_unsigned(arg, value, 8, 16);
    } else if (arg == "--batch") {
      o.batch = parse_unsigned(arg, value, 1, ecg::kMaxSamplesPerFrame);
    } else if (arg == "--source") {
      if (value != "ecg" && value != "stdin") throw UsageError("--source: expected ecg or stdin, got '" + value + "'");
      o.source = value;
    } else if (arg == "--auth") {
      if (value != "headers" && value != "query") {
        throw UsageError("--auth: expected headers or query, got '" + value + "'");
      }
      o.auth = value;
    } else if (arg == "--stall") {
      const size_t colon = value.find(':');
      if (colon == std::string::npos) throw UsageError("--stall: expected AT:FOR in seconds, got '" + value + "'");
      o.stall_at = parse_positive(arg + " AT", value.substr(0, colon), true);
      o.stall_for = parse_positive(arg + " FOR", value.substr(colon + 1), false);
    } else {
      throw UsageError("unknown option " + arg);
    }
  }
  if (!have_url || o.device.empty() || o.token.empty()) throw UsageError("--url, --device and --token are required");
  return o;
}

// ---------------------------------------------------------------- signal

// A synthetic lead-II-like ECG at 72 beats/min: P, Q, R, S, T waves as
// Gaussians, in millivolts, turned into the counts an AD8232 (gain 1100)
// gives on a 3.3 V ADC of `bits` bits, around mid-scale.
std::vector<int16_t> synthetic_ecg(unsigned rate, unsigned bits, double seconds) {
  struct Wave {
    double mv, at, width;
  };
  const Wave waves[] = {{0.15, -0.20, 0.025}, {-0.10, -0.03, 0.010}, {1.20, 0.0, 0.012},
                        {-0.25, 0.03, 0.010}, {0.30, 0.25, 0.050}};
  const double rr = 60.0 / 72.0;
  const double full = std::ldexp(1.0, static_cast<int>(bits)) - 1;
  const size_t n = static_cast<size_t>(std::llround(seconds * rate));
  std::vector<int16_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / rate;
    const double phase = std::fmod(t + 0.3, rr) - 0.3;  // R peak at phase 0
    double mv = 0;
    for (const Wave& w : waves) mv += w.mv * std::exp(-0.5 * std::pow((phase - w.at) / w.width, 2));
    const double counts = full / 2 + mv * 1100.0 / 3300.0 * full;
    out[i] = static_cast<int16_t>(std::lround(std::fmin(full, std::fmax(0.0, counts))));
  }
  return out;
}

// Counts are sent as given (0..32767, what an int16 sample carries), not
// checked against --bits: judging them is the gateway's job, and a test can
// then see the gateway refuse out-of-range samples.
std::vector<int16_t> read_stdin() {
  std::vector<int16_t> out;
  std::string word;
  while (std::cin >> word) {
    char* end = nullptr;
    const long v = std::strtol(word.c_str(), &end, 10);
    if (*end != '\0' || v < 0 || v > 32767) {
      throw UsageError("stdin: sample " + std::to_string(out.size()) + " is '" + word +
                       "', expected a whole count 0..32767");
    }
    out.push_back(static_cast<int16_t>(v));
  }
  if (out.empty()) throw UsageError("stdin: no samples");
  return out;
}

// ---------------------------------------------------------------- SHA-1, base64 (for the handshake)

std::vector<uint8_t> sha1(const std::string& text) {
  uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  std::vector<uint8_t> m(text.begin(), text.end());
  const uint64_t bit_len = static_cast<uint64_t>(m.size()) * 8;
  m.push_back(0x80);
  while (m.size() % 64 != 56) m.push_back(0);
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<uint8_t>(bit_len >> (8 * i)));
  auto rol = [](uint32_t v, int s) { return (v << s) | (v >> (32 - s)); };
  for (size_t chunk = 0; chunk < m.size(); chunk += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      w[i] = (static_cast<uint32_t>(m[chunk + 4 * i]) << 24) | (static_cast<uint32_t>(m[chunk + 4 * i + 1]) << 16) |
             (static_cast<uint32_t>(m[chunk + 4 * i + 2]) << 8) | m[chunk + 4 * i + 3];
    }
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999u;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1u;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDCu;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6u;
      }
      const uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::vector<uint8_t> digest;
  for (uint32_t v : h) {
    for (int s = 24; s >= 0; s -= 8) digest.push_back(static_cast<uint8_t>(v >> s));
  }
  return digest;
}

std::string base64(const std::vector<uint8_t>& data) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < data.size(); i += 3) {
    const uint32_t n = (static_cast<uint32_t>(data[i]) << 16) | (i + 1 < data.size() ? data[i + 1] << 8 : 0) |
                       (i + 2 < data.size() ? data[i + 2] : 0);
    out += abc[(n >> 18) & 63];
    out += abc[(n >> 12) & 63];
    out += i + 1 < data.size() ? abc[(n >> 6) & 63] : '=';
    out += i + 2 < data.size() ? abc[n & 63] : '=';
  }
  return out;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// ---------------------------------------------------------------- WebSocket

class WebSocket {
 public:
  WebSocket() : rng_(std::random_device{}()) {}
  ~WebSocket() {
    if (fd_ >= 0) ::close(fd_);
  }

  void connect(const Options& o) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &found);
    if (rc != 0) throw ConnectError("cannot resolve " + o.host + ": " + gai_strerror(rc));
    for (addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
      fd_ = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd_ >= 0 && ::connect(fd_, a->ai_addr, a->ai_addrlen) != 0) {
        ::close(fd_);
        fd_ = -1;
      }
    }
    freeaddrinfo(found);
    if (fd_ < 0) throw ConnectError("cannot connect to " + o.host + ":" + o.port + ": " + std::strerror(errno));
    handshake(o);
  }

  void send_binary(const uint8_t* data, size_t size) { send_frame(0x2, data, size); }

  // Sends a close frame with `code` (once).
  void send_close(uint16_t code) {
    if (close_sent_) return;
    const uint8_t payload[2] = {static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code & 0xFF)};
    send_frame(0x8, payload, sizeof payload);
    close_sent_ = true;
  }

  // Reads and handles whatever the server sent, waiting up to `timeout_ms`.
  void poll_incoming(int timeout_ms) {
    if (peer_gone_) return;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return;
    uint8_t buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      peer_gone_ = true;
      return;
    }
    in_.insert(in_.end(), buf, buf + n);
    while (handle_one_frame()) {
    }
  }

  bool closed_by_server() const { return close_code_ >= 0; }
  bool peer_gone() const { return peer_gone_; }
  int close_code() const { return close_code_; }
  int server_errors() const { return server_errors_; }

 private:
  void write_all(const uint8_t* data, size_t size) {
    while (size > 0) {
      const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
      if (n <= 0) {
        peer_gone_ = true;
        throw ConnectError(std::string("connection lost while sending: ") + std::strerror(errno));
      }
      data += n;
      size -= static_cast<size_t>(n);
    }
  }

  // Client frames are always masked (RFC 6455 section 5.3).
  void send_frame(uint8_t opcode, const uint8_t* data, size_t size) {
    std::vector<uint8_t> f;
    f.push_back(static_cast<uint8_t>(0x80 | opcode));
    if (size < 126) {
      f.push_back(static_cast<uint8_t>(0x80 | size));
    } else if (size < 65536) {
      f.push_back(0x80 | 126);
      f.push_back(static_cast<uint8_t>(size >> 8));
      f.push_back(static_cast<uint8_t>(size & 0xFF));
    } else {
      f.push_back(0x80 | 127);
      for (int s = 56; s >= 0; s -= 8) f.push_back(static_cast<uint8_t>(static_cast<uint64_t>(size) >> s));
    }
    uint8_t mask[4];
    for (uint8_t& m : mask) m = static_cast<uint8_t>(rng_());
    f.insert(f.end(), mask, mask + 4);
    for (size_t i = 0; i < size; ++i) f.push_back(data[i] ^ mask[i % 4]);
    write_all(f.data(), f.size());
  }

  void handshake(const Options& o) {
    std::vector<uint8_t> nonce(16);
    for (uint8_t& b : nonce) b = static_cast<uint8_t>(rng_());
    const std::string key = base64(nonce);
    std::string path = o.path;
    std::string headers;
    const std::string rate = std::to_string(o.rate), bits = std::to_string(o.bits);
    if (o.auth == "query") {
      path += (path.find('?') == std::string::npos ? "?" : "&");
      path += "device=" + url_encode(o.device) + "&token=" + url_encode(o.token) + "&rate=" + rate + "&bits=" + bits +
              "&leadoff=1&format=batch";
    } else {
      headers = "X-ECG-Device: " + o.device + "\r\nX-ECG-Token: " + o.token + "\r\nX-ECG-Rate: " + rate +
                "\r\nX-ECG-Bits: " + bits + "\r\nX-ECG-Leadoff: 1\r\nX-ECG-Format: batch\r\n";
    }
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + o.host + ":" + o.port +
                                "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                                "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: ecg-host-client\r\n" + headers + "\r\n";
    write_all(reinterpret_cast<const uint8_t*>(request.data()), request.size());

    std::string response;
    size_t end = std::string::npos;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while ((end = response.find("\r\n\r\n")) == std::string::npos) {
      if (Clock::now() > deadline) throw ConnectError("no handshake response within 10 s");
      char buf[1024];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) throw ConnectError("connection closed during the handshake");
      response.append(buf, static_cast<size_t>(n));
    }
    in_.assign(response.begin() + static_cast<long>(end) + 4, response.end());  // frames sent right after
    const std::string status_line = response.substr(0, response.find("\r\n"));
    if (status_line.compare(0, 12, "HTTP/1.1 101") != 0) {
      std::string body = response.substr(end + 4);
      char buf[1024];
      pollfd p{fd_, POLLIN, 0};
      while (body.size() < 4096 && ::poll(&p, 1, 500) > 0) {
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) break;
        body.append(buf, static_cast<size_t>(n));
      }
      while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
      throw ConnectError("handshake refused: " + status_line + (body.empty() ? "" : " - " + body));
    }
    const std::string expected = base64(sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
    if (header_value(response, "sec-websocket-accept") != expected) {
      throw ConnectError("handshake: Sec-WebSocket-Accept does not match the key (not a WebSocket server?)");
    }
  }

  static std::string header_value(const std::string& response, const std::string& lower_name) {
    size_t pos = response.find("\r\n");
    while (pos != std::string::npos && pos + 2 < response.size()) {
      const size_t next = response.find("\r\n", pos + 2);
      const std::string line = response.substr(pos + 2, next - pos - 2);
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (name == lower_name) {
          const size_t start = line.find_first_not_of(' ', colon + 1);
          return start == std::string::npos ? "" : line.substr(start, line.find_last_not_of(' ') - start + 1);
        }
      }
      pos = next;
    }
    return "";
  }

  // Handles one complete server frame from the input buffer, if there is one.
  bool handle_one_frame() {
    if (in_.size() < 2) return false;
    const uint8_t opcode = in_[0] & 0x0F;
    uint64_t len = in_[1] & 0x7F;
    size_t at = 2;
    if (len == 126) {
      if (in_.size() < 4) return false;
      len = (static_cast<uint64_t>(in_[2]) << 8) | in_[3];
      at = 4;
    } else if (len == 127) {
      if (in_.size() < 10) return false;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | in_[2 + i];
      at = 10;
    }
    if (in_[1] & 0x80) at += 4;  // servers do not mask, but skip a key if one is there
    if (in_.size() < at + len) return false;
    const std::string payload(in_.begin() + static_cast<long>(at), in_.begin() + static_cast<long>(at + len));
    in_.erase(in_.begin(), in_.begin() + static_cast<long>(at + len));

    if (opcode == 0x1) {  // text: the gateway's {"error": ..., "seq": ...}
      ++server_errors_;
      std::cerr << "server: " << payload << "\n";
    } else if (opcode == 0x8) {
      close_code_ = payload.size() >= 2 ? ((static_cast<uint8_t>(payload[0]) << 8) | static_cast<uint8_t>(payload[1]))
                                        : 1005;
      std::cerr << "server closed: " << close_code_ << (payload.size() > 2 ? " " + payload.substr(2) : "") << "\n";
      send_close(static_cast<uint16_t>(close_code_ == 1005 ? 1000 : close_code_));
    } else if (opcode == 0x9) {
      send_frame(0xA, reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    }
    return true;
  }

  int fd_ = -1;
  std::mt19937 rng_;
  std::vector<uint8_t> in_;
  bool close_sent_ = false;
  bool peer_gone_ = false;
  int close_code_ = -1;
  int server_errors_ = 0;
};

// ---------------------------------------------------------------- streaming

struct Summary {
  size_t samples_sent = 0;
  uint32_t frames = 0;
  uint32_t dropped = 0;
};

Summary stream(WebSocket& ws, const Options& o, const std::vector<int16_t>& signal) {
  ecg::SampleQueue<kQueueSize> queue;
  ecg::FrameBuilder<ecg::kMaxSamplesPerFrame> frames(static_cast<uint16_t>(o.batch));
  std::atomic<bool> produced_all(false), stop(false);
  const double period_s = 1.0 / (o.rate * o.speed);

  // The "interrupt": one sample per period, whether or not the sender keeps up.
  std::thread sampler([&] {
    const auto start = Clock::now();
    for (size_t i = 0; i < signal.size() && !stop.load(); ++i) {
      std::this_thread::sleep_until(start + std::chrono::duration<double>(i * period_s));
      queue.put(signal[i], 0);
    }
    produced_all.store(true);
  });
  struct JoinOnExit {
    std::thread& t;
    std::atomic<bool>& stop;
    ~JoinOnExit() {
      stop.store(true);
      t.join();
    }
  } join_on_exit{sampler, stop};

  Summary sum;
  const size_t stall_after = o.stall_at >= 0 ? static_cast<size_t>(o.stall_at * o.rate) : SIZE_MAX;
  bool stalled = false;
  ecg::Sample s = ecg::Sample();
  while (!ws.closed_by_server() && !ws.peer_gone()) {
    if (!stalled && sum.samples_sent >= stall_after) {
      stalled = true;
      const auto until = Clock::now() + std::chrono::duration<double>(o.stall_for);
      while (Clock::now() < until) ws.poll_incoming(10);
    }
    if (queue.take(s)) {
      ++sum.samples_sent;
      if (frames.add(s)) {
        ws.send_binary(frames.frame(), frames.frame_size());
        ++sum.frames;
      }
      continue;
    }
    if (produced_all.load() && queue.size() == 0) break;
    ws.poll_incoming(1);
  }
  if (!ws.closed_by_server() && !ws.peer_gone()) {
    if (frames.flush()) {
      ws.send_binary(frames.frame(), frames.frame_size());
      ++sum.frames;
    }
    ws.send_close(1000);
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!ws.closed_by_server() && !ws.peer_gone() && Clock::now() < deadline) ws.poll_incoming(50);
  }
  sum.dropped = queue.dropped();
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<int16_t> signal;
  try {
    o = parse_args(argc, argv);
    signal = o.source == "stdin" ? read_stdin() : synthetic_ecg(o.rate, o.bits, o.seconds);
  } catch (const UsageError& e) {
    std::cerr << "host_client: " << e.what() << "\n";
    return 1;
  }
  WebSocket ws;
  Summary sum;
  try {
    ws.connect(o);
    sum = stream(ws, o, signal);
  } catch (const ConnectError& e) {
    std::cerr << "host_client: " << e.what() << "\n";
    return 2;
  }
  std::printf("samples=%zu frames=%u dropped=%u server_errors=%d close=%d\n", sum.samples_sent, sum.frames,
              sum.dropped, ws.server_errors(), ws.close_code());
  const bool clean = ws.server_errors() == 0 && ws.close_code() == 1000;
  return clean ? 0 : 3;
}
