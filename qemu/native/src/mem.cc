// Shared mappings of fds (guest RAM from vfio-user DMA_MAP) as external ArrayBuffers, unmapped explicitly.
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "native.h"

namespace nicsim {

// Every live mapping, so munmap only ever unmaps what mmap made (handing munmap a buffer from
// the V8 heap must not unmap the heap). Process-wide: worker threads share the address space.
static std::mutex gMapLock;
static std::unordered_map<void*, size_t> gMaps;

static constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

// mmap(fd, offset, length, prot: 'r' | 'rw') -> Uint8Array | -errno.
// MAP_SHARED. The Uint8Array views the whole mapping through an external ArrayBuffer that has
// no finalizer: the mapping lives until munmap, however long the JS objects live.
static Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  std::string prot;
  if (!ArgFd(info, 0, "mmap", &fd)) return env.Undefined();
  if (!info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "mmap: offset and length must be numbers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!ArgString(info, 3, "mmap", &prot)) return env.Undefined();
  int p;
  if (prot == "r") p = PROT_READ;
  else if (prot == "rw") p = PROT_READ | PROT_WRITE;
  else {
    Napi::TypeError::New(env, "mmap: prot must be 'r' or 'rw'").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Values are range-checked, not thrown on: they usually come from a peer (DMA_MAP).
  double off = info[1].As<Napi::Number>().DoubleValue();
  double len = info[2].As<Napi::Number>().DoubleValue();
  if (!(off >= 0 && off <= kMaxSafe && static_cast<double>(static_cast<uint64_t>(off)) == off))
    return NegErrno(env, EINVAL);
  if (!(len >= 1 && len <= kMaxSafe && static_cast<double>(static_cast<uint64_t>(len)) == len))
    return NegErrno(env, EINVAL);
  uint64_t o = static_cast<uint64_t>(off), l = static_cast<uint64_t>(len);
  uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (o % page != 0) return NegErrno(env, EINVAL);
  if (o + l > static_cast<uint64_t>(kMaxSafe) || l > SIZE_MAX) return NegErrno(env, EOVERFLOW);
  // Touching a page past the end of a file raises SIGBUS; refuse such mappings up front.
  struct stat st;
  if (fstat(fd, &st) < 0) return NegErrno(env, errno);
  if (S_ISREG(st.st_mode) && o + l > static_cast<uint64_t>(st.st_size)) return NegErrno(env, ENXIO);

  void* addr = mmap(nullptr, static_cast<size_t>(l), p, MAP_SHARED, fd, static_cast<off_t>(o));
  if (addr == MAP_FAILED) return NegErrno(env, errno);

  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, static_cast<size_t>(l), nullptr, nullptr, &ab) != napi_ok) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    munmap(addr, static_cast<size_t>(l));
    return NegErrno(env, ENOMEM);
  }
  napi_value view;
  if (napi_create_typedarray(env, napi_uint8_array, static_cast<size_t>(l), ab, 0, &view) != napi_ok) {
    // Too long for a Uint8Array: neuter the buffer before the memory goes away.
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
    napi_detach_arraybuffer(env, ab);
    munmap(addr, static_cast<size_t>(l));
    return NegErrno(env, EOVERFLOW);
  }
  {
    std::lock_guard<std::mutex> g(gMapLock);
    gMaps[addr] = static_cast<size_t>(l);
  }
  return Napi::Value(env, view);
}

// munmap(view | buffer) -> true | false. Detaches the ArrayBuffer first, so every view of it
// reads as length 0 and no JS can reach the freed pages. false when already unmapped.
static Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::ArrayBuffer ab;
  if (info[0].IsTypedArray()) ab = info[0].As<Napi::TypedArray>().ArrayBuffer();
  else if (info[0].IsArrayBuffer()) ab = info[0].As<Napi::ArrayBuffer>();
  else {
    Napi::TypeError::New(env, "munmap: expected the Uint8Array returned by mmap").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (ab.IsDetached()) return Napi::Boolean::New(env, false);
  void* addr = ab.Data();
  size_t len = ab.ByteLength();
  {
    std::lock_guard<std::mutex> g(gMapLock);
    auto it = gMaps.find(addr);
    if (addr == nullptr || it == gMaps.end() || it->second != len) {
      Napi::TypeError::New(env, "munmap: buffer is not a live mapping made by mmap").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (napi_detach_arraybuffer(env, ab) != napi_ok) {
      Napi::Error::New(env, "munmap: could not detach the mapping's ArrayBuffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    gMaps.erase(it);
  }
  munmap(addr, len);
  return Napi::Boolean::New(env, true);
}

// liveMappings() -> count of mappings not yet unmapped (leak checks in tests).
static Napi::Value LiveMappings(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> g(gMapLock);
  return Napi::Number::New(info.Env(), static_cast<double>(gMaps.size()));
}

void InitMem(Napi::Env env, Napi::Object exports) {
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
  exports.Set("liveMappings", Napi::Function::New(env, LiveMappings, "liveMappings"));
}

}  // namespace nicsim
