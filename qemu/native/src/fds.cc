// File-descriptor syscalls: UNIX stream sockets with SCM_RIGHTS, eventfd, timerfd, memfd, TAP, read/write.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "native.h"

namespace nicsim {

// The kernel's per-message limit on passed descriptors (SCM_MAX_FD).
static constexpr size_t kMaxFds = 253;
static constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

static bool FillSockaddr(const std::string& path, sockaddr_un* sa, int* err) {
  std::memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  if (path.empty()) { *err = EINVAL; return false; }
  if (path.size() >= sizeof(sa->sun_path)) { *err = ENAMETOOLONG; return false; }
  std::memcpy(sa->sun_path, path.data(), path.size());
  return true;
}

// listenUnix(path, backlog) -> fd | -errno. Non-blocking, close-on-exec.
static Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  uint64_t backlog;
  if (!ArgString(info, 0, "listenUnix", &path)) return env.Undefined();
  if (!ArgUint(info, 1, "listenUnix", "backlog", 65535, &backlog)) return env.Undefined();
  sockaddr_un sa;
  int err;
  if (!FillSockaddr(path, &sa, &err)) return NegErrno(env, err);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return NegErrno(env, errno);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0 ||
      listen(fd, static_cast<int>(backlog)) < 0) {
    err = errno;
    close(fd);
    return NegErrno(env, err);
  }
  return Napi::Number::New(env, fd);
}

// connectUnix(path) -> fd | -errno. Non-blocking: a full backlog gives -EAGAIN instead of
// blocking the event loop (the listener may live in this very thread).
static Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgString(info, 0, "connectUnix", &path)) return env.Undefined();
  sockaddr_un sa;
  int err;
  if (!FillSockaddr(path, &sa, &err)) return NegErrno(env, err);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return NegErrno(env, errno);
  int rc;
  do rc = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    err = errno;
    close(fd);
    return NegErrno(env, err);
  }
  return Napi::Number::New(env, fd);
}

// socketpair() -> [fd, fd] | -errno. Connected non-blocking stream pair.
static Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    return NegErrno(env, errno);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, sv[0]));
  a.Set(1u, Napi::Number::New(env, sv[1]));
  return a;
}

// accept(fd) -> fd | -errno (-EAGAIN when nobody is waiting).
static Napi::Value Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, "accept", &fd)) return env.Undefined();
  int c;
  do c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (c < 0 && errno == EINTR);
  if (c < 0) return NegErrno(env, errno);
  return Napi::Number::New(env, c);
}

// close(fd) -> 0 | -errno. EINTR is not retried: on Linux the fd is gone either way.
static Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, "close", &fd)) return env.Undefined();
  if (close(fd) < 0 && errno != EINTR) return NegErrno(env, errno);
  return Napi::Number::New(env, 0);
}

static Napi::Value Unlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgString(info, 0, "unlink", &path)) return env.Undefined();
  if (unlink(path.c_str()) < 0) return NegErrno(env, errno);
  return Napi::Number::New(env, 0);
}

// recvmsg(fd, buf, maxFds) -> { bytes, fds, ctrunc }. bytes is -errno on failure and 0 at EOF.
// Received fds are close-on-exec. ctrunc: the sender passed more fds than maxFds; the kernel
// closed the surplus.
static Napi::Value Recvmsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint8_t* data;
  size_t len;
  uint64_t maxFds;
  if (!ArgFd(info, 0, "recvmsg", &fd)) return env.Undefined();
  if (!ArgBytes(info, 1, "recvmsg", &data, &len)) return env.Undefined();
  if (!ArgUint(info, 2, "recvmsg", "maxFds", kMaxFds, &maxFds)) return env.Undefined();
  if (len == 0 || data == nullptr) {
    // A zero-length read would look like EOF.
    Napi::RangeError::New(env, "recvmsg: buffer must not be empty").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t space = maxFds > 0 ? CMSG_SPACE(maxFds * sizeof(int)) : 0;
  std::unique_ptr<cmsghdr[]> control(space ? new cmsghdr[space / sizeof(cmsghdr) + 1] : nullptr);
  iovec iov{data, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.get();
  msg.msg_controllen = space;
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  int err = n < 0 ? errno : 0;

  Napi::Array fds = Napi::Array::New(env);
  uint32_t k = 0;
  bool surplus = false;
  if (n >= 0 && msg.msg_controllen > 0) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const unsigned char* p = CMSG_DATA(c);
      for (size_t j = 0; j < count; j++) {
        int v;
        std::memcpy(&v, p + j * sizeof(int), sizeof(int));
        // CMSG_SPACE rounds up, so the kernel may fit more than asked for: keep the promise.
        if (k >= maxFds) {
          close(v);
          surplus = true;
          continue;
        }
        fds.Set(k++, Napi::Number::New(env, v));
      }
    }
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("bytes", Napi::Number::New(env, n < 0 ? -static_cast<double>(err) : static_cast<double>(n)));
  r.Set("fds", fds);
  r.Set("ctrunc", Napi::Boolean::New(env, n >= 0 && (surplus || (msg.msg_flags & MSG_CTRUNC) != 0)));
  return r;
}

// sendmsg(fd, buf, fds) -> bytes | -errno. Never raises SIGPIPE, never blocks. A short count
// is possible on a stream socket; the fds travel with the first byte sent.
static Napi::Value Sendmsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint8_t* data;
  size_t len;
  std::vector<int> fds;
  if (!ArgFd(info, 0, "sendmsg", &fd)) return env.Undefined();
  if (!ArgBytes(info, 1, "sendmsg", &data, &len)) return env.Undefined();
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!ArgFdArray(info, 2, "sendmsg", &fds)) return env.Undefined();
  }
  if (fds.size() > kMaxFds) return NegErrno(env, EINVAL);
  if (!fds.empty() && len == 0) return NegErrno(env, EINVAL);  // fds need a byte to ride on
  iovec iov{data, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  size_t space = fds.empty() ? 0 : CMSG_SPACE(fds.size() * sizeof(int));
  std::unique_ptr<cmsghdr[]> control(space ? new cmsghdr[space / sizeof(cmsghdr) + 1] : nullptr);
  if (space) {
    std::memset(control.get(), 0, space);
    msg.msg_control = control.get();
    msg.msg_controllen = space;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return NegErrno(env, errno);
  return Napi::Number::New(env, static_cast<double>(n));
}

// read(fd, buf) -> n | -errno. On a TAP fd one read is one frame.
static Napi::Value Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint8_t* data;
  size_t len;
  if (!ArgFd(info, 0, "read", &fd)) return env.Undefined();
  if (!ArgBytes(info, 1, "read", &data, &len)) return env.Undefined();
  if (len == 0 || data == nullptr) {
    Napi::RangeError::New(env, "read: buffer must not be empty").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ssize_t n;
  do n = read(fd, data, len);
  while (n < 0 && errno == EINTR);
  if (n < 0) return NegErrno(env, errno);
  return Napi::Number::New(env, static_cast<double>(n));
}

// write(fd, buf) -> n | -errno.
static Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint8_t* data;
  size_t len;
  if (!ArgFd(info, 0, "write", &fd)) return env.Undefined();
  if (!ArgBytes(info, 1, "write", &data, &len)) return env.Undefined();
  static uint8_t empty;
  ssize_t n;
  do n = write(fd, data ? data : &empty, len);
  while (n < 0 && errno == EINTR);
  if (n < 0) return NegErrno(env, errno);
  return Napi::Number::New(env, static_cast<double>(n));
}

// writev2(fd, head, body) -> n | -errno: one writev(2) of two buffers. On a TAP fd with a
// virtio-net header that is one frame (the header, then the frame) without copying them together.
static Napi::Value Writev2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint8_t* a;
  size_t alen;
  uint8_t* b;
  size_t blen;
  if (!ArgFd(info, 0, "writev2", &fd)) return env.Undefined();
  if (!ArgBytes(info, 1, "writev2", &a, &alen)) return env.Undefined();
  if (!ArgBytes(info, 2, "writev2", &b, &blen)) return env.Undefined();
  static uint8_t empty;
  struct iovec iov[2] = {{a ? a : &empty, alen}, {b ? b : &empty, blen}};
  ssize_t n;
  do n = writev(fd, iov, 2);
  while (n < 0 && errno == EINTR);
  if (n < 0) return NegErrno(env, errno);
  return Napi::Number::New(env, static_cast<double>(n));
}

// eventfd(initval, flags) -> fd | -errno.
static Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t init, flags;
  if (!ArgUint(info, 0, "eventfd", "initval", 4294967295.0, &init)) return env.Undefined();
  if (!ArgUint(info, 1, "eventfd", "flags", 2147483647.0, &flags)) return env.Undefined();
  int fd = eventfd(static_cast<unsigned>(init), static_cast<int>(flags));
  if (fd < 0) return NegErrno(env, errno);
  return Napi::Number::New(env, fd);
}

// eventfdWrite(fd, value) -> 0 | -errno (-EAGAIN when the counter would overflow).
static Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint64_t v;
  if (!ArgFd(info, 0, "eventfdWrite", &fd)) return env.Undefined();
  if (!ArgUint(info, 1, "eventfdWrite", "value", kMaxSafe, &v)) return env.Undefined();
  ssize_t n;
  do n = write(fd, &v, sizeof(v));
  while (n < 0 && errno == EINTR);
  if (n < 0) return NegErrno(env, errno);
  if (n != sizeof(v)) return NegErrno(env, EIO);
  return Napi::Number::New(env, 0);
}

// Reads the 8-byte counter of an eventfd or timerfd -> value (> 0) | -errno.
static Napi::Value ReadCounter(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, fn, &fd)) return env.Undefined();
  uint64_t v = 0;
  ssize_t n;
  do n = read(fd, &v, sizeof(v));
  while (n < 0 && errno == EINTR);
  if (n < 0) return NegErrno(env, errno);
  if (n != sizeof(v)) return NegErrno(env, EIO);
  return Napi::Number::New(env, static_cast<double>(v));
}

// eventfdRead(fd) -> counter (> 0) | -errno (-EAGAIN when zero on a non-blocking eventfd).
static Napi::Value EventfdRead(const Napi::CallbackInfo& info) { return ReadCounter(info, "eventfdRead"); }

// timerfdCreate() -> fd | -errno: a CLOCK_MONOTONIC timerfd, non-blocking, close-on-exec.
static Napi::Value TimerfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return NegErrno(env, errno);
  return Napi::Number::New(env, fd);
}

// timerfdSet(fd, ns, intervalNs) -> 0 | -errno: first expiry `ns` nanoseconds from now, then
// every `intervalNs` (0: once); ns = 0 disarms.
static Napi::Value TimerfdSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint64_t ns, interval;
  if (!ArgFd(info, 0, "timerfdSet", &fd)) return env.Undefined();
  if (!ArgUint(info, 1, "timerfdSet", "ns", kMaxSafe, &ns)) return env.Undefined();
  if (!ArgUint(info, 2, "timerfdSet", "intervalNs", kMaxSafe, &interval)) return env.Undefined();
  itimerspec its = {};
  its.it_value.tv_sec = static_cast<time_t>(ns / 1000000000ull);
  its.it_value.tv_nsec = static_cast<long>(ns % 1000000000ull);
  its.it_interval.tv_sec = static_cast<time_t>(interval / 1000000000ull);
  its.it_interval.tv_nsec = static_cast<long>(interval % 1000000000ull);
  if (timerfd_settime(fd, 0, &its, nullptr) < 0) return NegErrno(env, errno);
  return Napi::Number::New(env, 0);
}

// timerfdRead(fd) -> expirations (> 0) | -errno (-EAGAIN when it has not expired).
static Napi::Value TimerfdRead(const Napi::CallbackInfo& info) { return ReadCounter(info, "timerfdRead"); }

// memfdCreate(name, size) -> fd | -errno: an anonymous shared file of `size` bytes.
static Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  uint64_t size;
  if (!ArgString(info, 0, "memfdCreate", &name)) return env.Undefined();
  if (!ArgUint(info, 1, "memfdCreate", "size", kMaxSafe, &size)) return env.Undefined();
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return NegErrno(env, errno);
  if (ftruncate(fd, static_cast<off_t>(size)) < 0) {
    int err = errno;
    close(fd);
    return NegErrno(env, err);
  }
  return Napi::Number::New(env, fd);
}

// fstatSize(fd) -> st_size | -errno.
static Napi::Value FstatSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, "fstatSize", &fd)) return env.Undefined();
  struct stat st;
  if (fstat(fd, &st) < 0) return NegErrno(env, errno);
  return Napi::Number::New(env, static_cast<double>(st.st_size));
}

// tapOpen(name) -> { fd, name } | -errno. Opens (creating if needed) a TAP interface without
// packet-info headers; an empty name lets the kernel pick tapN.
static Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgString(info, 0, "tapOpen", &name)) return env.Undefined();
  bool vnet = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  if (name.size() >= IFNAMSIZ) return NegErrno(env, EINVAL);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return NegErrno(env, errno);
  ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  // With IFF_VNET_HDR every frame carries a 10-byte virtio_net_hdr each way. No TUNSETOFFLOAD:
  // the kernel then hands us only whole, checksummed, MTU-sized frames, as an 82574L receives.
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return NegErrno(env, err);
  }
  char got[IFNAMSIZ + 1] = {0};
  std::memcpy(got, ifr.ifr_name, IFNAMSIZ);
  Napi::Object r = Napi::Object::New(env);
  r.Set("fd", Napi::Number::New(env, fd));
  r.Set("name", Napi::String::New(env, got));
  r.Set("vnetHdr", Napi::Boolean::New(env, vnet));
  return r;
}

void InitFds(Napi::Env env, Napi::Object exports) {
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix, "listenUnix"));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix, "connectUnix"));
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
  exports.Set("accept", Napi::Function::New(env, Accept, "accept"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("unlink", Napi::Function::New(env, Unlink, "unlink"));
  exports.Set("recvmsg", Napi::Function::New(env, Recvmsg, "recvmsg"));
  exports.Set("sendmsg", Napi::Function::New(env, Sendmsg, "sendmsg"));
  exports.Set("read", Napi::Function::New(env, Read, "read"));
  exports.Set("write", Napi::Function::New(env, Write, "write"));
  exports.Set("writev2", Napi::Function::New(env, Writev2, "writev2"));
  exports.Set("eventfd", Napi::Function::New(env, Eventfd, "eventfd"));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite, "eventfdWrite"));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead, "eventfdRead"));
  exports.Set("timerfdCreate", Napi::Function::New(env, TimerfdCreate, "timerfdCreate"));
  exports.Set("timerfdSet", Napi::Function::New(env, TimerfdSet, "timerfdSet"));
  exports.Set("timerfdRead", Napi::Function::New(env, TimerfdRead, "timerfdRead"));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
  exports.Set("fstatSize", Napi::Function::New(env, FstatSize, "fstatSize"));
  exports.Set("tapOpen", Napi::Function::New(env, TapOpen, "tapOpen"));
}

}  // namespace nicsim
