// fd readiness on Node's own event loop (libuv uv_poll_t): what makes the server event driven.
#include <uv.h>

#include <cerrno>
#include <memory>
#include <string>
#include <unordered_set>

#include "native.h"

namespace nicsim {

struct PollState;

// Per-environment (main thread or worker) bookkeeping: the handle class and every uv handle
// not yet closed, so environment teardown can close them before the loop goes away.
struct AddonData {
  Napi::FunctionReference ctor;
  std::unordered_set<PollState*> live;
  napi_async_cleanup_hook_handle hook = nullptr;
  bool tearingDown = false;
};

class PollHandle;

// Owned by libuv from uv_poll_init until the uv_close callback, which frees it.
struct PollState {
  uv_poll_t handle;
  napi_env env;
  AddonData* addon;
  PollHandle* owner;  // null once closed or once the JS object is collected
  Napi::FunctionReference cb;
  Napi::ObjectReference self;  // strong while started, so neither object nor cb is collected
  std::unique_ptr<Napi::AsyncContext> ctx;
  bool started = false;
  bool closing = false;
};

static void FinishTeardown(AddonData* a) {
  napi_remove_async_cleanup_hook(a->hook);
  delete a;
}

static void OnClosed(uv_handle_t* h) {
  PollState* st = static_cast<PollState*>(h->data);
  AddonData* a = st->addon;
  a->live.erase(st);
  delete st;
  if (a->tearingDown && a->live.empty()) FinishTeardown(a);
}

// Releases JS references and hands the uv handle to uv_close; idempotent.
static void CloseState(PollState* st, bool releaseJs) {
  if (st->closing) return;
  st->closing = true;
  st->started = false;
  uv_poll_stop(&st->handle);
  if (releaseJs) {
    st->self.Reset();
    st->cb.Reset();
    st->ctx.reset();
  } else {
    // Environment teardown: the references die with the environment.
    st->self.SuppressDestruct();
    st->cb.SuppressDestruct();
    st->ctx.release();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&st->handle), OnClosed);
}

static void OnPoll(uv_poll_t* h, int status, int events) {
  PollState* st = static_cast<PollState*>(h->data);
  if (st->closing || st->cb.IsEmpty()) return;
  Napi::Env env(st->env);
  Napi::HandleScope scope(env);
  Napi::Value recv = st->self.IsEmpty() ? env.Undefined() : st->self.Value();
  st->cb.MakeCallback(recv, {Napi::Number::New(env, status), Napi::Number::New(env, events)}, *st->ctx);
  // `st` may be closing now (the callback closed it) but is not freed before the next tick.
  if (env.IsExceptionPending()) {
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env, e.Value());
  }
}

class PollHandle : public Napi::ObjectWrap<PollHandle> {
 public:
  static Napi::Function Define(Napi::Env env, AddonData* a) {
    return DefineClass(env, "PollHandle",
                       {
                           InstanceMethod<&PollHandle::Start>("start"),
                           InstanceMethod<&PollHandle::Stop>("stop"),
                           InstanceMethod<&PollHandle::Close>("close"),
                           InstanceMethod<&PollHandle::Ref>("ref"),
                           InstanceMethod<&PollHandle::Unref>("unref"),
                       },
                       a);
  }

  // new PollHandle(fd, events, cb): uv_poll_init + uv_poll_start. Failure here means a bad fd
  // from our own code, so it throws (with .errno set).
  PollHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PollHandle>(info) {
    Napi::Env env = info.Env();
    AddonData* a = static_cast<AddonData*>(info.Data());
    int fd;
    uint64_t events;
    if (!ArgFd(info, 0, "poll", &fd)) return;
    if (!ArgUint(info, 1, "poll", "events", UV_READABLE | UV_WRITABLE | UV_DISCONNECT, &events)) return;
    if (!info[2].IsFunction()) {
      Napi::TypeError::New(env, "poll: callback must be a function").ThrowAsJavaScriptException();
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "poll: no event loop").ThrowAsJavaScriptException();
      return;
    }
    std::unique_ptr<PollState> st(new PollState());
    int rc = uv_poll_init(loop, &st->handle, fd);
    if (rc < 0) {
      ThrowUv(env, "poll: uv_poll_init", rc);
      return;
    }
    // From here the handle is known to libuv and must be released through uv_close.
    PollState* s = st.release();
    s->handle.data = s;
    s->env = env;
    s->addon = a;
    s->owner = this;
    a->live.insert(s);
    s->cb = Napi::Persistent(info[2].As<Napi::Function>());
    s->ctx.reset(new Napi::AsyncContext(env, "nicsim.poll", info.This().As<Napi::Object>()));
    st_ = s;
    rc = uv_poll_start(&s->handle, static_cast<int>(events), OnPoll);
    if (rc < 0) {
      Detach();
      CloseState(s, true);
      ThrowUv(env, "poll: uv_poll_start", rc);
      return;
    }
    s->started = true;
    s->self = Napi::Persistent(info.This().As<Napi::Object>());
  }

  ~PollHandle() override {
    // Collected while stopped but never closed: close it for the user.
    if (st_ != nullptr) {
      PollState* s = st_;
      Detach();
      CloseState(s, true);
    }
  }

  void Detach() {
    if (st_ != nullptr) st_->owner = nullptr;
    st_ = nullptr;
  }
  static void Orphan(PollState* s) {
    if (s->owner != nullptr) s->owner->st_ = nullptr;
    s->owner = nullptr;
  }

 private:
  static void ThrowUv(Napi::Env env, const char* what, int rc) {
    Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + uv_strerror(rc));
    e.Set("errno", Napi::Number::New(env, rc));
    e.Set("code", Napi::String::New(env, uv_err_name(rc)));
    e.ThrowAsJavaScriptException();
  }

  // start(events): (re)starts watching, replacing the event mask.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (st_ == nullptr) {
      Napi::Error::New(env, "poll handle is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint64_t events;
    if (!ArgUint(info, 0, "start", "events", UV_READABLE | UV_WRITABLE | UV_DISCONNECT, &events))
      return env.Undefined();
    int rc = uv_poll_start(&st_->handle, static_cast<int>(events), OnPoll);
    if (rc < 0) {
      ThrowUv(env, "poll: uv_poll_start", rc);
      return env.Undefined();
    }
    if (!st_->started) {
      st_->started = true;
      st_->self = Napi::Persistent(info.This().As<Napi::Object>());
    }
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (st_ != nullptr && st_->started) {
      uv_poll_stop(&st_->handle);
      st_->started = false;
      st_->self.Reset();
    }
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (st_ != nullptr) {
      PollState* s = st_;
      Detach();
      CloseState(s, true);
    }
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (st_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(&st_->handle));
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (st_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(&st_->handle));
    return info.Env().Undefined();
  }

  PollState* st_ = nullptr;
};

// poll(fd, events, cb) -> PollHandle.
static Napi::Value Poll(const Napi::CallbackInfo& info) {
  AddonData* a = static_cast<AddonData*>(info.Data());
  Napi::Value fd = info[0], ev = info[1], cb = info[2];
  return a->ctor.New({fd, ev, cb});
}

// Environment teardown: close every handle, and report done once libuv has let go of them.
static void OnTeardown(napi_async_cleanup_hook_handle handle, void* arg) {
  AddonData* a = static_cast<AddonData*>(arg);
  a->tearingDown = true;
  a->ctor.SuppressDestruct();
  std::unordered_set<PollState*> live = a->live;
  for (PollState* s : live) {
    PollHandle::Orphan(s);
    CloseState(s, false);
  }
  if (a->live.empty()) FinishTeardown(a);
}

void InitPoll(Napi::Env env, Napi::Object exports) {
  AddonData* a = new AddonData();
  a->ctor = Napi::Persistent(PollHandle::Define(env, a));
  napi_add_async_cleanup_hook(env, OnTeardown, a, &a->hook);
  exports.Set("poll", Napi::Function::New(env, Poll, "poll", a));
}

}  // namespace nicsim
