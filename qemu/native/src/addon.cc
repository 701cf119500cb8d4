// Module entry of the nicsim syscall addon: UNIX sockets with SCM_RIGHTS, mmap, eventfd, TAP, uv_poll.
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>

#include "native.h"

namespace nicsim {

static void SetConstants(Napi::Env env, Napi::Object exports) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("EFD_CLOEXEC", Napi::Number::New(env, EFD_CLOEXEC));
  c.Set("EFD_NONBLOCK", Napi::Number::New(env, EFD_NONBLOCK));
  c.Set("EFD_SEMAPHORE", Napi::Number::New(env, EFD_SEMAPHORE));
  c.Set("UV_READABLE", Napi::Number::New(env, UV_READABLE));
  c.Set("UV_WRITABLE", Napi::Number::New(env, UV_WRITABLE));
  c.Set("UV_DISCONNECT", Napi::Number::New(env, UV_DISCONNECT));
  c.Set("pageSize", Napi::Number::New(env, static_cast<double>(sysconf(_SC_PAGESIZE))));
  exports.Set("constants", c);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitFds(env, exports);
  InitMem(env, exports);
  InitPoll(env, exports);
  SetConstants(env, exports);
  return exports;
}

}  // namespace nicsim

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return nicsim::Init(env, exports); }

NODE_API_MODULE(nicsim_native, InitModule)
